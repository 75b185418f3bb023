"""Regenerate data/sample (the bundled demo corpus) from ../shared/data.

    python data/make_sample.py --shared ../shared/data

French documents: the first 120 Tatoeba fra-eng pairs (English sentence = query).
Paragraphs: the first 24 XQuAD-R paragraphs in de, es, zh, ar, ru (the English first question of
each paragraph = query, relevant to the paragraph in all five languages).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).parent
N_TATOEBA = 120
N_PARAGRAPHS = 24
XQUAD_LANGS = ("de", "es", "zh", "ar", "ru")


def _paragraphs(path: Path) -> list[tuple[str, dict]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [(article["title"], p) for article in data for p in article["paragraphs"]][:N_PARAGRAPHS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=HERE / "sample")
    args = parser.parse_args()
    docs, queries, qrels = [], [], []
    tat = args.shared / "tatoeba"
    fra = (tat / "tatoeba.fra-eng.fra").read_text(encoding="utf-8").splitlines()[:N_TATOEBA]
    eng = (tat / "tatoeba.fra-eng.eng").read_text(encoding="utf-8").splitlines()[:N_TATOEBA]
    for i, (f, e) in enumerate(zip(fra, eng, strict=True)):
        docs.append({"_id": f"tatoeba-fra-{i}", "title": "", "text": f, "lang": "fr",
                     "metadata": {"source": "tatoeba"}})
        queries.append({"_id": f"tatoeba-eng-{i}", "text": e, "lang": "en"})
        qrels.append((f"tatoeba-eng-{i}", f"tatoeba-fra-{i}"))
    english = _paragraphs(args.shared / "xquad-r" / "en.json")
    for lang in XQUAD_LANGS:
        for p, (title, para) in enumerate(_paragraphs(args.shared / "xquad-r" / f"{lang}.json")):
            # XQuAD's article titles are English in every language file: as text they would leak
            # English words into every document, so they stay in metadata.
            docs.append({"_id": f"xquad-{lang}-{p}", "title": "", "text": para["context"].lstrip("\ufeff"),
                         "lang": lang,
                         "metadata": {"source": "xquad-r", "article": title, "paragraph": p}})
            qrels.append((f"xquad-en-{p}", f"xquad-{lang}-{p}"))
    for p, (_title, para) in enumerate(english):
        queries.append({"_id": f"xquad-en-{p}", "text": para["qas"][0]["question"], "lang": "en"})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "qrels").mkdir(exist_ok=True)
    for name, rows in (("corpus.jsonl", docs), ("queries.jsonl", queries)):
        with (args.out / name).open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    with (args.out / "qrels" / "test.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"{q}\t{d}\t1\n" for q, d in qrels)
    print(f"{args.out}: {len(docs)} documents, {len(queries)} queries, {len(qrels)} qrels")


if __name__ == "__main__":
    main()
