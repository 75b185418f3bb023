"""xQG (SIGIR 2023): queries generated per passage in several languages, cached for resumable index builds."""
