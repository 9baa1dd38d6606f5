"""`python -m ember`: a short tour of the founding documents' autograd examples.

Each step prints the code it runs and what ember prints for it, which is what PyTorch prints.
"""

from __future__ import annotations

import textwrap

import ember as torch

STEPS = [
    (
        "A tensor records what is done to it once it requires grad",
        """
        x = torch.arange(4.0)
        x.requires_grad_(True)
        y = 2 * torch.dot(x, x)
        print(y)
        """,
    ),
    (
        "backward() fills x.grad with dy/dx = 4x",
        """
        y.backward()
        print(x.grad)
        print(x.grad == 4 * x)
        """,
    ),
    (
        "Gradients accumulate until zeroed",
        """
        x.grad.zero_()
        x.sum().backward()
        print(x.grad)
        """,
    ),
    (
        "The chain rule, node by node: z = mean(x * x)",
        """
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * x
        z = y.mean()
        print(z.grad_fn, z.grad_fn.next_functions[0][0])
        z.backward()
        print(x.grad)   # dz/dx = 2x / 3
        """,
    ),
    (
        "detach() cuts the graph: u is a constant for z",
        """
        x = torch.arange(4.0, requires_grad=True)
        y = x * x
        u = y.detach()
        (u * x).sum().backward()
        print(x.grad == u)
        """,
    ),
    (
        "A non-scalar output needs a gradient to weight it",
        """
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        try:
            (x * 2).backward()
        except RuntimeError as e:
            print("RuntimeError:", e)
        (x * 2).backward(torch.tensor([1, 2, 2]))
        print(x.grad)
        """,
    ),
    (
        "no_grad() turns recording off",
        """
        with torch.no_grad():
            print((x ** 2).requires_grad)
        print((x ** 2).requires_grad)
        """,
    ),
    (
        "create_graph=True records the backward pass: a second derivative",
        """
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (g,) = torch.autograd.grad((x ** 3).sum(), x, create_graph=True)
        print(g)
        g.sum().backward()
        print(x.grad)
        """,
    ),
    (
        "Training with .data updates (seed 002): fit y = 2x",
        """
        w = torch.tensor([0.5], requires_grad=True)
        b = torch.tensor([0.1], requires_grad=True)
        xs = torch.tensor([1.0, 2.0, 3.0])
        ys = torch.tensor([2.0, 4.0, 6.0])
        for epoch in range(100):
            loss = ((w * xs + b - ys) ** 2).mean()
            loss.backward()
            w.data -= 0.01 * w.grad
            b.data -= 0.01 * b.grad
            w.grad.zero_()
            b.grad.zero_()
        print(f"after training: w={w.item():.2f}, b={b.item():.2f}")
        """,
    ),
]


def main() -> None:
    scope: dict = {"torch": torch}
    print("ember: PyTorch's autograd on NumPy (`import ember as torch`)\n")
    for i, (title, code) in enumerate(STEPS, 1):
        code = textwrap.dedent(code).strip()
        print(f"--- {i}. {title}")
        for line in code.splitlines():
            continued = line.startswith((" ", "except", "else", "elif", "finally"))
            print(("... " if continued else ">>> ") + line)
        exec(code, scope)
        print()


if __name__ == "__main__":
    main()
