"""`python -m modelkit saliency`: not built yet."""


def add_parser(sub):
    p = sub.add_parser("saliency", help="(not built yet)")
    p.set_defaults(func=lambda args: print("not built yet") or 2)
