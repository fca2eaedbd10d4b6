"""`python -m modelkit cache list|clear`: the persistent image cache.

Training decodes each dataset once per image size into ``<cache dir>/images``
(``modelkit.data.caches.image_cache``); later runs on the same files read it. ``list`` shows
what is kept, least recently used first, with the bound it is evicted to; ``clear``
removes everything, or the entries named by key (a unique prefix is enough).

    python -m modelkit cache list
    python -m modelkit cache clear 3f2a9c
"""

from __future__ import annotations

import dataclasses
import json
import time

from modelkit.data.caches import image_cache


def add_parser(sub) -> None:
    parser = sub.add_parser("cache", help="list or clear the decoded-image cache training reads")
    actions = parser.add_subparsers(dest="action", required=True)
    p = actions.add_parser("list", help="the kept image sets, least recently used first")
    p.add_argument("--json", action="store_true", help="a JSON object with the entries and limits")
    p.set_defaults(func=_list)
    p = actions.add_parser("clear", help="delete all entries, or those named by key")
    p.add_argument("keys", nargs="*", help="entry keys (or unique prefixes); none: all")
    p.set_defaults(func=_clear)


def _list(args) -> int:
    entries = image_cache.entries()
    total, limit = sum(e.bytes for e in entries), image_cache.disk_limit()
    if args.json:
        print(json.dumps({
            "root": str(image_cache.cache_root()), "bytes": total, "limit_bytes": limit,
            "ram_limit_bytes": image_cache.ram_limit(),
            "entries": [{**dataclasses.asdict(e), "path": str(e.path)} for e in entries],
        }, indent=1))
        return 0
    print(f"{image_cache.cache_root()}: {len(entries)} entries, "
          f"{image_cache.human_bytes(total)} of {image_cache.human_bytes(limit)} "
          f"(${image_cache.DISK_LIMIT_ENV}); in RAM up to "
          f"{image_cache.human_bytes(image_cache.ram_limit())} per set "
          f"(${image_cache.RAM_LIMIT_ENV})")
    if entries:
        print(f"{'key':24} {'px':>4} {'images':>8} {'size':>9}  {'last used':19}  folder")
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.last_used))
        print(f"{e.key:24} {e.image_size:>4} {e.count:>8,} {image_cache.human_bytes(e.bytes):>9}  "
              f"{used:19}  {e.folder}")
    return 0


def _clear(args) -> int:
    removed = image_cache.clear(args.keys)
    freed = image_cache.human_bytes(sum(e.bytes for e in removed))
    print(f"removed {len(removed)} image cache entries ({freed})")
    return 0
