"""Retrieval quality and ingestion throughput of rag_engine (issue 15's figures), through its
real HTTP API, jobs and stores: a document set the benchmark writes itself (product sheets of
made-up devices, one fact per section, plus filler text), questions each with its one known
answer passage, then recall@5, nDCG@10 and MRR for vector, full-text and hybrid search (hybrid
must beat both) and for vector and hybrid re-ranked by MMR, and ingestion throughput in chunks/s
(parse, chunk, embed, store). Run by hand, not in CI:

    .venv/bin/python bench/rag_retrieval.py [--backend sqlite|postgres] [--products 40]

``postgres`` needs V100_TEST_POSTGRES_URL (scripts/services/postgres.sh start). The questions
are of three kinds, so that each method has its strengths: paraphrases naming the device
(words differ from the passage's, the made-up name is rare), part numbers (exact tokens that
embeddings blur) and descriptions without a name (only the meaning matches)."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v100.kit.auth import Principal
from v100.kit.db import drop_database
from v100.kit.settings import PlatformSettings
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.http import auth_headers, running_app
from v100.services.rag_engine.app import create_app
from v100.services.rag_engine.settings import RagEngineSettings

SECRET = "rag-retrieval-bench-secret-0123456789abcdef"  # noqa: S105 (a local test secret)
TENANT = Principal(tenant_id=str(uuid.uuid4()), user_id="bench", scopes=frozenset({"*"}))
KB = "bench-kb"
MODES = ("vector", "fulltext", "hybrid")
# Each row measured: its label, the search mode, and whether the candidates are re-ranked (MMR
# on the stored embeddings, docs/rag-engine.md "Re-ranking").
RUNS = (*((mode, mode, False) for mode in MODES), ("vector+rerank", "vector", True),
        ("hybrid+rerank", "hybrid", True))  # fmt: skip

# (section, passage, question): {name} the device, {n} a number, {city}, {mail}.
SECTIONS = [
    ("Warranty", "The {name} comes with a guarantee of {n} months against manufacturing "
                 "defects.", "How long is the warranty on the {name}?"),
    ("Battery", "On a single charge the {name} keeps running for about {n} hours.",
                "What is the battery life of the {name}?"),
    ("Shipping", "Orders of the {name} leave our {city} depot within {n} days.",
                 "Where is the {name} shipped from?"),
    ("Price", "The {name} sells for {n} euros including tax.", "How much does the {name} cost?"),
    ("Support", "For help with the {name}, write to {mail}.",
                "Who do I contact about problems with my {name}?"),
    ("Care", "Wipe the {name} with a dry cloth and never put solvents on its casing.",
             "How should I clean the {name}?"),
]  # fmt: skip
# Found by its exact part number (embeddings blur codes).
IDENTITY = (
    "Catalogue",
    "The {name} is listed in the catalogue under part number {code}.",
    "Which device has part number {code}?",
)
# Found by meaning alone: what the device is for, asked without its name.
PURPOSES = [
    ("measures how moist the soil is in greenhouse beds",
     "Which gadget tells gardeners how wet the earth in a glasshouse is?"),
    ("counts the steps of a runner and logs the distance covered",
     "What can track how far I jog?"),
    ("translates spoken French into English subtitles in real time",
     "Which product turns speech in one language into captions in another?"),
    ("keeps a baby's milk bottle at body temperature through the night",
     "What warms an infant's feeding bottle?"),
    ("warns hikers when a thunderstorm is approaching",
     "Which device alerts walkers to incoming lightning weather?"),
    ("scans old paper photographs into digital files",
     "How can I digitise printed family pictures?"),
    ("reminds elderly people to take their pills on time",
     "Which gadget helps seniors remember their medication?"),
    ("filters pollen and dust out of bedroom air",
     "What cleans allergens from the air where I sleep?"),
    ("tunes guitar strings by listening to each note",
     "Which device helps a musician get an instrument in pitch?"),
    ("locks the front door when the owner walks away",
     "What secures my house entrance automatically as I leave?"),
    ("grinds coffee beans to a chosen coarseness",
     "Which appliance mills beans for espresso?"),
    ("detects water leaks under the kitchen sink",
     "What tells me if pipes are dripping in the cupboard?"),
]  # fmt: skip
CITIES = ["Lyon", "Ghent", "Porto", "Brno", "Turku", "Graz", "Cork", "Split", "Riga", "Bari"]
FILLER = [
    "market",
    "team",
    "quarterly",
    "review",
    "notes",
    "meeting",
    "office",
    "budget",
    "roadmap",
    "planning",
    "staff",
    "customer",
    "feedback",
    "hiring",
    "travel",
    "policy",
    "schedule",
    "project",
    "update",
    "report",
    "figures",
    "results",
    "growth",
    "process",
    "training",
    "partner",
    "contract",
    "invoice",
    "payment",
    "supplier",
]


@dataclass(frozen=True)
class Question:
    text: str
    document: str  # the external id of the document that answers
    heading: str  # the section that holds the answer
    kind: str  # paraphrase | part-number | meaning


def _name(rng: random.Random) -> str:
    syllables = ["ka", "vo", "ri", "ze", "lu", "mi", "tor", "quin", "dax", "bel", "sor", "nyx"]
    word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3)))
    return f"{word.capitalize()} {rng.choice('TXQRV')}{rng.randint(2, 9)}"


def corpus(products: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[Question]]:
    rng = random.Random(seed)
    documents: list[dict[str, Any]] = []
    questions: list[Question] = []
    names: set[str] = set()
    for index in range(products):
        name = _name(rng)
        while name in names:
            name = _name(rng)
        names.add(name)
        external = f"product-{index}"
        values = {
            "name": name, "n": rng.randint(2, 60), "city": rng.choice(CITIES),
            "mail": f"help.{name.split()[0].lower()}@example.org",
            "code": f"{rng.choice('ABCDEFGH')}{rng.choice('KLMNPRST')}-{rng.randint(1000, 9999)}",
        }  # fmt: skip
        sections = [f"# {name}"]
        for heading, passage, question in [*SECTIONS, IDENTITY]:
            sections.append(f"## {heading}\n\n{passage.format(**values)}")
            kind = "part-number" if heading == IDENTITY[0] else "paraphrase"
            questions.append(Question(question.format(**values), external, heading, kind))
        if index < len(PURPOSES):
            purpose, question = PURPOSES[index]
            sections.append(f"## Purpose\n\nThe {name} {purpose}.")
            questions.append(Question(question, external, "Purpose", "meaning"))
        documents.append({"external_id": external, "content": "\n\n".join(sections)})
    for index in range(products):  # filler: meeting notes, several chunks each
        paragraphs = [
            " ".join(rng.choice(FILLER) for _ in range(rng.randint(12, 20))).capitalize() + "."
            for _ in range(40)
        ]
        documents.append({"external_id": f"notes-{index}",
                          "content": "# Notes\n\n" + "\n\n".join(paragraphs)})  # fmt: skip
    return documents, questions


def ndcg_at(rank: int | None, k: int) -> float:
    return 1.0 / math.log2(rank + 1) if rank is not None and rank <= k else 0.0


async def run(backend: str, products: int) -> None:
    with tempfile.TemporaryDirectory(prefix="v100-rag-bench-") as scratch:
        database_url = None
        if backend == "postgres":
            admin = postgres_admin_url()
            if admin is None:
                sys.exit("V100_TEST_POSTGRES_URL is not set (scripts/services/postgres.sh start)")
            database_url = fresh_postgres_url(admin, prefix="v100_rag_bench")
        platform = PlatformSettings(var_dir=Path(scratch), internal_token_secret=SECRET)
        settings = RagEngineSettings(
            platform=platform, billing_enabled=False, **({"database_url": database_url}
                                                         if database_url else {}),
        )  # fmt: skip
        try:
            await _measure(settings, products, backend)
        finally:
            if database_url is not None:
                await drop_database(database_url)


async def _measure(settings: RagEngineSettings, products: int, backend: str) -> None:
    documents, questions = corpus(products)
    app = create_app(settings)
    async with running_app(app) as http:

        def headers() -> dict[str, str]:  # minted per call: internal tokens are short-lived
            return auth_headers(app, TENANT)

        # Warm the model (its load is not ingestion).
        warm = await http.post("/v1/search", headers=headers(),
                               json={"query": "warm up", "knowledge_base_ids": [KB]})  # fmt: skip
        assert warm.status_code == 200, warm.text
        started = time.perf_counter()
        ids: dict[str, str] = {}
        for document in documents:
            answer = await http.post(
                "/v1/documents", headers={**headers(), "Idempotency-Key": uuid.uuid4().hex},
                json={"knowledge_base_id": KB, "format": "markdown", **document},
            )  # fmt: skip
            assert answer.status_code == 202, answer.text
            ids[document["external_id"]] = answer.json()["id"]
        chunks = 0
        while True:
            await asyncio.sleep(0.5)
            listed = await http.get("/v1/documents", headers=headers(),
                                    params={"knowledge_base_id": KB, "limit": 200})  # fmt: skip
            rows = listed.json()["items"]
            if failed := [row for row in rows if row["status"] == "failed"]:
                sys.exit(f"a document failed: {failed[0]['error']}")
            if len(rows) == len(ids) and all(row["status"] == "ready" for row in rows):
                chunks = sum(row["chunk_count"] for row in rows)
                break
        elapsed = time.perf_counter() - started
        print(f"backend {backend}: {len(documents)} documents, {chunks} chunks ingested in "
              f"{elapsed:.1f} s: {chunks / elapsed:.1f} chunks/s "
              f"(parse, chunk, embed with MiniLM int8, store; {os.cpu_count()} cores)")  # fmt: skip

        by_id = {value: key for key, value in ids.items()}
        results: dict[str, dict[str, list[float]]] = {label: {} for label, _, _ in RUNS}
        latencies: dict[str, list[float]] = {label: [] for label, _, _ in RUNS}
        for label, mode, rerank in RUNS:
            for question in questions:
                began = time.perf_counter()
                body = {"query": question.text, "knowledge_base_ids": [KB], "k": 10, "mode": mode,
                        "rerank": rerank}  # fmt: skip
                answer = await http.post("/v1/search", headers=headers(), json=body)
                latencies[label].append(time.perf_counter() - began)
                assert answer.status_code == 200, answer.text
                rank = next(
                    (p["number"] for p in answer.json()["passages"]
                     if by_id[p["document_id"]] == question.document
                     and question.heading in p["heading_path"]),
                    None,
                )  # fmt: skip
                for kind in (question.kind, "all"):
                    bucket = results[label].setdefault(kind, [])
                    bucket.extend([float(rank is not None and rank <= 5), ndcg_at(rank, 10),
                                   0.0 if rank is None else 1.0 / rank])  # fmt: skip

    kinds = [*sorted({q.kind for q in questions}), "all"]
    counts = {kind: sum(1 for q in questions if q.kind == kind) for kind in kinds[:-1]}
    counts["all"] = len(questions)
    print(f"\n{len(questions)} questions, one known answer passage each "
          f"({', '.join(f'{k}: {n}' for k, n in counts.items() if k != 'all')})")  # fmt: skip
    print(f"{'mode':<14} {'kind':<12} {'recall@5':>9} {'nDCG@10':>8} {'MRR':>6}")
    summary: dict[str, tuple[float, float]] = {}
    for label, _, _ in RUNS:
        for kind in kinds:
            values = results[label][kind]
            recall, ndcg, mrr = (statistics.fmean(values[i::3]) for i in range(3))
            print(f"{label:<14} {kind:<12} {recall:>9.3f} {ndcg:>8.3f} {mrr:>6.3f}")
            if kind == "all":
                summary[label] = (recall, ndcg)
    hybrid = summary["hybrid"]
    for other in ("vector", "fulltext"):
        print(f"hybrid / {other}: recall@5 x{hybrid[0] / summary[other][0]:.2f}, "
              f"nDCG@10 x{hybrid[1] / summary[other][1]:.2f}")  # fmt: skip
    for base in ("vector", "hybrid"):
        ranked = summary[f"{base}+rerank"]
        print(f"{base}+rerank / {base}: recall@5 x{ranked[0] / summary[base][0]:.2f}, "
              f"nDCG@10 x{ranked[1] / summary[base][1]:.2f}")  # fmt: skip
    for label, _, _ in RUNS:
        ordered = sorted(latencies[label])
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(f"{label} search through the API: median {statistics.median(ordered) * 1000:.1f} "
              f"ms, p95 {p95 * 1000:.1f} ms")  # fmt: skip
    beats = all(hybrid[i] > summary[o][i] for o in ("vector", "fulltext") for i in (0, 1))
    print("hybrid beats both on recall@5 and nDCG@10:", "yes" if beats else "NO")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--products", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(run(args.backend, args.products))


if __name__ == "__main__":
    main()
