"""Protocol ingestion speed: a ~100-page generated PDF protocol read and extracted (target < 5 s).
Prints one JSON line."""

from __future__ import annotations

import json
import time

from limsai.protocols import corpus, extract, read_protocol


def main() -> None:
    content = corpus.to_pdf(corpus.bioanalytical(filler_pages=145))
    start = time.perf_counter()
    doc = read_protocol(content, "bench.pdf")
    req = extract(doc)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "benchmark": "protocol.ingest",
                "pages": len(doc.pages),
                "seconds": round(seconds, 3),
                "items": len(req.citations()),
                "target_seconds": 5.0,
            }
        )
    )


if __name__ == "__main__":
    main()
