"""OpInfo entries for ember/ops/linalg.py: dot, mv, mm, bmm, matmul (every rank pair), outer,
einsum. Non-contiguous operands and batch dims that broadcast are included."""

from opinfo import OpInfo, Sample, noncontig, rand


def _dot(rng):
    return [
        Sample((rand(rng, 4), rand(rng, 4)), name="vectors"),
        Sample((noncontig(rand(rng, 3)), rand(rng, 3)), name="noncontig"),
    ]


def _mv(rng):
    return [
        Sample((rand(rng, 2, 3), rand(rng, 3)), name="matrix-vector"),
        Sample((noncontig(rand(rng, 3, 4)), noncontig(rand(rng, 4))), name="noncontig"),
    ]


def _mm(rng):
    return [
        Sample((rand(rng, 2, 3), rand(rng, 3, 4)), name="matrices"),
        Sample((noncontig(rand(rng, 3, 2)), rand(rng, 2, 1)), name="noncontig"),
        Sample((rand(rng, 3, 2).T, rand(rng, 4, 3).T), name="transposed"),
    ]


def _bmm(rng):
    return [
        Sample((rand(rng, 2, 2, 3), rand(rng, 2, 3, 4)), name="batches"),
        Sample((noncontig(rand(rng, 3, 2, 2)), rand(rng, 3, 2, 1)), name="noncontig"),
    ]


def _matmul(shapes):
    def samples(rng):
        return [
            Sample((rand(rng, *a), rand(rng, *b)), name=f"{list(a)}@{list(b)}") for a, b in shapes
        ]

    return samples


# One entry per torch node name (the harness compares grad_fn names with torch's).
_MATMUL = {
    "dot": [((3,), (3,))],
    "mv": [((2, 3), (3,))],
    "mm": [((2, 3), (3, 4))],
    "squeeze": [((3,), (3, 4))],
    "clone": [((2, 3), (5, 3, 4)), ((2, 3), (2, 5, 3, 4))],
    "unsafe_view": [
        ((5, 2, 3), (5, 3, 4)),
        ((5, 2, 3), (3, 4)),
        ((5, 2, 3), (3,)),
        ((3,), (5, 3, 4)),
        ((2, 5, 2, 3), (5, 3, 4)),
        ((2, 1, 2, 3), (1, 5, 3, 4)),
        ((5, 2, 3), (1, 3, 4)),
    ],
}


def _outer(rng):
    return [
        Sample((rand(rng, 2), rand(rng, 3)), name="vectors"),
        Sample((noncontig(rand(rng, 3)), rand(rng, 1)), name="noncontig"),
    ]


def _einsum(equations):
    def samples(rng):
        return [
            Sample((eq,) + tuple(rand(rng, *s) for s in shapes), name=eq.replace("...", "E"))
            for eq, shapes in equations
        ]

    return samples


_EINSUM = {
    "einsum": [  # contractions: ViewBackward0
        ("ij,jk->ik", [(2, 3), (3, 4)]),
        ("ij,jk", [(2, 3), (3, 4)]),
        ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
        ("...ij,...jk->...ik", [(2, 2, 3), (3, 4)]),
        ("i,i->", [(3,), (3,)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
        ("ij,ij->i", [(2, 3), (2, 1)]),
        ("...i,...i->...", [(2, 3), (5, 1, 3)]),
        ("ba,b", [(2, 3), (2,)]),
        ("Ab,bc", [(2, 3), (3, 2)]),
    ],
    "einsum_mul": [  # nothing summed: MulBackward0
        ("i,j->ij", [(3,), (4,)]),
        ("ij,ij->ij", [(1, 3), (2, 3)]),
        ("ii,i->i", [(3, 3), (3,)]),
        ("i,i,i->i", [(3,), (3,), (3,)]),
    ],
    "einsum_sum": [  # one operand, letters summed: SumBackward1
        ("ii", [(3, 3)]),
        ("ij->", [(2, 3)]),
        ("ij->i", [(2, 3)]),
    ],
    "einsum_permute": [  # one operand, nothing summed: PermuteBackward0
        ("ij->ji", [(3, 2)]),
        ("ii->i", [(3, 3)]),
        ("iij->ji", [(2, 2, 3)]),
        ("...ii->...i", [(4, 3, 3)]),
    ],
}


OPS = [
    OpInfo("dot", _dot),
    OpInfo("mv", _mv),
    OpInfo("mm", _mm),
    OpInfo("bmm", _bmm),
    *(
        OpInfo(f"matmul_{name}", _matmul(shapes), fn=lambda m, x, y: x @ y)
        for name, shapes in _MATMUL.items()
    ),
    OpInfo("matmul", _matmul([((4,), (2, 4, 3))])),
    OpInfo("outer", _outer),
    *(
        OpInfo(name, _einsum(eqs), fn=lambda m, eq, *xs: m.einsum(eq, *xs))
        for name, eqs in _EINSUM.items()
    ),
]
