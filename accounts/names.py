"""Which usernames may be taken: none that looks like an existing one, none of a short reserved list.

"Looks like" is Unicode's confusable skeleton (UTS #39, section 4): `\u0430lice` (Cyrillic a) and
`alice`, or `rn` and `m`, have one skeleton. It comes from ICU's SpoofChecker (PyICU, in the
pyicu-wheels build that bundles ICU): ICU is the reference implementation of UTS #39 and
follows each Unicode release's confusables data, which a table of our own would not.
The name is case-folded before and after, since names are unique in any case (accounts.models),
and its skeleton as written is compared too.
"""

from __future__ import annotations

import unicodedata

import icu

# Names a user could take to pass for the service or its staff; compared by skeleton too, so
# `\u0410dmin` or `r00t` are refused with them. Operators still create such accounts themselves
# (createsuperuser, the admin): the list binds public sign-up only.
RESERVED = frozenset(
    {
        "admin",
        "administrator",
        "root",
        "system",
        "support",
        "staff",
        "moderator",
        "security",
        "help",
        "official",
        "superuser",
        "postmaster",
        "webmaster",
        "noreply",
        "null",
        "undefined",
        "anonymous",
        "everyone",
        "me",
        "api",
        "www",
        "chat",
    }
)

LOOKS_TAKEN = "A user with a name that looks the same already exists."
RESERVED_NAME = "This name is reserved; choose another."

_checker = icu.SpoofChecker()


def skeleton(username: str) -> str:
    """The UTS #39 skeleton of the case-folded, NFKC-normalised name, case-folded again: skeletons
    map to prototypes of either case (`0` to `O`), and names are compared in any case. This is
    the one stored (and unique) per user."""
    folded = unicodedata.normalize("NFKC", username).casefold()
    return str(_checker.getSkeleton(0, folded)).casefold()


def looks(username: str) -> set[str]:
    """The skeletons a new name must not share with a taken one: its own, and that of the name
    as written, before case folding (`aIice` with a capital I looks like `alice`, `aiice` does not)."""
    as_written = str(_checker.getSkeleton(0, unicodedata.normalize("NFKC", username)))
    return {skeleton(username), skeleton(as_written)}


_RESERVED_SKELETONS = frozenset(skeleton(name) for name in RESERVED)


def is_reserved(username: str) -> bool:
    return bool(looks(username) & _RESERVED_SKELETONS)
