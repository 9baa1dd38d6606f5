"""Seed 003: the chain rule node by node, gradient descent, and a sigmoid model's gradients.

A plain PyTorch script: `python chain_rule.py` runs it on PyTorch, `ember run chain_rule.py`
on ember, and both print the same.
"""

import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x * x  # y = x^2, elementwise
z = y.mean()  # z = 1/3 * sum(x^2)
print(type(z.grad_fn).__name__, [type(f).__name__ for f, _ in z.grad_fn.next_functions])
z.backward()
print(x.grad)  # dz/dx = 2x / 3

# gradient descent: x <- x - lr * x.grad
lr = 0.1
with torch.no_grad():
    x -= lr * x.grad
print(x)


class MyModel(torch.nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x, w, b):
        return 1 / (torch.exp(-(w * x + b)) + 1)


model = MyModel()
x = torch.tensor(1.0, requires_grad=True)
w = torch.tensor(0.0, requires_grad=True)
b = torch.tensor(0.0, requires_grad=True)
output = model(x, w, b)
output.backward()
print(output, x.grad, w.grad, b.grad)
