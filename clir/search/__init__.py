"""Search: the retriever (query -> candidates -> fusion -> hits), fusion methods and hit rendering."""
