"""Recurrent layers: RNN, LSTM, GRU and their single-step cells, with torch.nn's API.

Parameter names, shapes, gate order and initialisation are torch's, so a torch state_dict loads
as is: per layer `l` and direction (suffix `_reverse`) `weight_ih_l{l}` (gates * hidden, in),
`weight_hh_l{l}` (gates * hidden, hidden), `bias_ih_l{l}`, `bias_hh_l{l}`; LSTM gates are
stacked i, f, g, o and GRU gates r, z, n. Every weight starts uniform in +-1/sqrt(hidden_size).

The recurrence is built from ember ops (matmul, sigmoid, tanh, stack, ...), so autograd needs
nothing special. The input projection of a whole sequence is one matmul; only the hidden-to-
hidden product and the gates run in a Python loop over time steps, each vectorised over the
batch. Sequences are time-major inside (T, B, features); `batch_first` only transposes.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable

import ember

from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

Tensor = ember.Tensor
State = tuple  # one layer-direction's recurrent state: (h,) or, for an LSTM, (h, c)
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ---- one time step of each cell kind -----------------------------------------------------------
def _linear(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """x @ w.T + b over the last dim of x: the affine map of every gate at once."""
    out = ember.matmul(x, w.t())
    return out if b is None else out + b


def _rnn_step(act: Callable) -> Callable:
    """Elman step: h' = act(W_ih x + b_ih + W_hh h + b_hh)."""

    def step(gi: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None, w_hr=None) -> State:
        return (act(gi + _linear(state[0], w_hh, b_hh)),)

    return step


def _lstm_step(gi: Tensor, state: State, w_hh, b_hh, w_hr=None) -> State:
    """LSTM step, gates i, f, g, o: c' = f*c + i*g, h' = o*tanh(c') (then W_hr h' if projected)."""
    h, c = state
    i, f, g, o = (gi + _linear(h, w_hh, b_hh)).chunk(4, 1)
    c = ember.sigmoid(f) * c + ember.sigmoid(i) * ember.tanh(g)
    h = ember.sigmoid(o) * ember.tanh(c)
    return (h if w_hr is None else _linear(h, w_hr, None), c)


def _gru_step(gi: Tensor, state: State, w_hh, b_hh, w_hr=None) -> State:
    """GRU step, gates r, z, n; h' = (1 - z) * n + z * h.

    Matches torch: the reset gate multiplies W_hn h + b_hn (not h before the product), so the
    hidden projection is computed once for all three gates.
    """
    h = state[0]
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = _linear(h, w_hh, b_hh).chunk(3, 1)
    r = ember.sigmoid(i_r + h_r)
    z = ember.sigmoid(i_z + h_z)
    n = ember.tanh(i_n + r * h_n)
    return ((1 - z) * n + z * h,)


_STEPS = {
    "RNN_TANH": _rnn_step(ember.tanh),
    "RNN_RELU": _rnn_step(ember.relu),
    "LSTM": _lstm_step,
    "GRU": _gru_step,
}


# ---- multi-layer sequence modules ---------------------------------------------------------------
class RNNBase(Module):
    """What RNN, LSTM and GRU share: parameters per layer and direction, checks, the layer loop."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        _check_args(dropout, num_layers, bias, batch_first, input_size, hidden_size, proj_size)
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        num_directions = 2 if bidirectional else 1
        self._flat_weights_names: list = []
        self._all_weights: list = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * num_directions
            for direction in range(num_directions):
                shapes = {
                    "weight_ih": (gate_size, layer_input),
                    "weight_hh": (gate_size, real_hidden),
                }
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                suffix = "_reverse" if direction == 1 else ""
                names = []
                for kind, shape in shapes.items():
                    name = f"{kind}_l{layer}{suffix}"
                    setattr(self, name, Parameter(ember.empty(shape, dtype=dtype, device=device)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias uniform in [-1/sqrt(hidden_size), 1/sqrt(hidden_size)]."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Matches torch on CPU: a no-op (it only packs weights for cuDNN)."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """The parameters as a list per layer and direction, in torch's order."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ---- forward ------------------------------------------------------------------------------
    def _state_sizes(self) -> tuple:
        """Last dim of each recurrent state tensor: (h,) or (h, c) for an LSTM."""
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (real_hidden, self.hidden_size) if self.mode == "LSTM" else (real_hidden,)

    def _check_input(self, input: Tensor) -> None:
        weight_dtype = self.weight_ih_l0.dtype
        if input.dtype != weight_dtype:
            raise ValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight_dtype}). "
                f"Convert input: input.to({weight_dtype}), or convert model: "
                f"model.to({input.dtype})"
            )
        if self.input_size != input.size(-1):
            raise RuntimeError(
                "input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {input.size(-1)}"
            )

    def _run(self, input: Tensor, hx: Tensor | tuple | None) -> tuple:
        """Forward on a batched (3-D) input: torch's checks, then the layers; (output, states).

        `hx` is None or the tuple of initial states ((h0,) or (h0, c0)), each (L*D, B, size).
        """
        num_directions = 2 if self.bidirectional else 1
        batch = input.size(0) if self.batch_first else input.size(1)
        sizes = self._state_sizes()
        if hx is None:
            hx = tuple(
                ember.zeros(self.num_layers * num_directions, batch, n, dtype=input.dtype)
                for n in sizes
            )
        self._check_input(input)
        for i, (h, n) in enumerate(zip(hx, sizes)):
            expected = (self.num_layers * num_directions, batch, n)
            if tuple(h.shape) != expected:
                which = f"hidden[{i}]" if len(sizes) == 2 else "hidden"
                raise RuntimeError(f"Expected {which} size {expected}, got {list(h.shape)}")
        x = input.transpose(0, 1) if self.batch_first else input
        if x.size(0) == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        step = _STEPS[self.mode]
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction, names in enumerate(
                self._all_weights[layer * num_directions : (layer + 1) * num_directions]
            ):
                w = {n.split("_l")[0]: getattr(self, n) for n in names}  # "weight_ih", ...
                gates_in = _linear(x, w["weight_ih"], w.get("bias_ih")).unbind(0)
                index = layer * num_directions + direction
                state = tuple(h[index] for h in hx)
                ys = [None] * len(gates_in)
                order = range(len(gates_in))
                for t in reversed(order) if direction == 1 else order:
                    state = step(
                        gates_in[t], state, w["weight_hh"], w.get("bias_hh"), w.get("weight_hr")
                    )
                    ys[t] = state[0]
                outputs.append(ember.stack(ys))
                finals.append(state)
            x = outputs[0] if num_directions == 1 else ember.cat(outputs, 2)
            # Matches torch: dropout between layers, not after the last one, in training only.
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        output = x.transpose(0, 1) if self.batch_first else x
        states = tuple(ember.stack([s[i] for s in finals]) for i in range(len(sizes)))
        return output, states

    def _forward(self, input: Tensor, hx: Tensor | None) -> tuple:
        """RNN and GRU forward: one state tensor h; unbatched (2-D) input allowed."""
        if input.dim() not in (2, 3):
            raise ValueError(
                f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.dim()}D "
                + ("tensor instead" if type(self).__name__ == "RNN" else "instead")
            )
        batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if hx is not None:
            want = 3 if batched else 2
            if hx.dim() != want:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(
                    f"For {kind} input, hx should also be {want}-D but got {hx.dim()}-D tensor"
                )
        if not batched:
            input = input.unsqueeze(batch_dim)
            hx = None if hx is None else hx.unsqueeze(1)
        output, (h,) = self._run(input, None if hx is None else (hx,))
        if not batched:
            return output.squeeze(batch_dim), h.squeeze(1)
        return output, h


def _check_args(dropout, num_layers, bias, batch_first, input_size, hidden_size, proj_size):
    """torch's constructor checks for RNN/LSTM/GRU, with its messages, in its order."""
    if (
        not isinstance(dropout, numbers.Number)
        or not 0 <= dropout <= 1
        or isinstance(dropout, bool)
    ):
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an "
            "element being zeroed"
        )
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
            f"expects num_layers greater than 1, but got dropout={dropout} and "
            f"num_layers={num_layers}",
            stacklevel=4,
        )
    for name, value, kind in (
        ("bias", bias, bool),
        ("batch_first", batch_first, bool),
        ("input_size", input_size, int),
    ):
        if not isinstance(value, kind):
            raise TypeError(
                f"{name} should be of type {kind.__name__}, got: {type(value).__name__}"
            )
    if input_size <= 0:
        raise ValueError("input_size must be greater than zero")
    if not isinstance(hidden_size, int):
        raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
    if hidden_size <= 0:
        raise ValueError("hidden_size must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


class RNN(RNNBase):
    """Elman RNN: h_t = tanh (or relu)(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), per layer."""

    def __init__(self, *args, **kwargs) -> None:
        # Matches torch: (input_size, hidden_size, num_layers, nonlinearity, bias, batch_first,
        # dropout, bidirectional); nonlinearity is the 4th positional argument.
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(modes[nonlinearity], *args, **kwargs)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple:
        """(output (T, B, D*H), h_n (L*D, B, H)); B dims absent for unbatched input."""
        return self._forward(input, hx)


class GRU(RNNBase):
    """Gated recurrent unit; gates r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple:
        """(output (T, B, D*H), h_n (L*D, B, H)); B dims absent for unbatched input."""
        return self._forward(input, hx)


class LSTM(RNNBase):
    """Long short-term memory; gates i, f, g, o; optional projection of h (`proj_size`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        """(output, (h_n, c_n)), shapes as torch; B dims absent for unbatched input."""
        if input.dim() not in (2, 3):
            raise ValueError(f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead")
        batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not batched:
            input = input.unsqueeze(batch_dim)
        if hx is not None:
            want = 3 if batched else 2
            if hx[0].dim() != want or hx[1].dim() != want:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(
                    f"For {kind} input, hx and cx should also be {want}-D but got "
                    f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors"
                )
            if not batched:
                hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        output, (h, c) = self._run(input, None if hx is None else tuple(hx))
        if not batched:
            return output.squeeze(batch_dim), (h.squeeze(1), c.squeeze(1))
        return output, (h, c)


# ---- cells -------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """What the cells share: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` and their checks."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = num_chunks * hidden_size
        self.weight_ih = Parameter(ember.empty((rows, input_size), dtype=dtype, device=device))
        self.weight_hh = Parameter(ember.empty((rows, hidden_size), dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(ember.empty(rows, dtype=dtype, device=device))
            self.bias_hh = Parameter(ember.empty(rows, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s

    def reset_parameters(self) -> None:
        """Every weight and bias uniform in [-1/sqrt(hidden_size), 1/sqrt(hidden_size)]."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _prepare(self, input: Tensor, hx: tuple | None) -> tuple:
        """Checks as torch's; returns (batched?, 2-D input, 2-D states) with zero default states."""
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for i, h in enumerate(hx or ()):
            if h.dim() not in (1, 2):
                which = f"hx[{i}]" if name == "LSTMCell" else "hidden"
                raise ValueError(f"{name}: Expected {which} to be 1D or 2D, got {h.dim()}D instead")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
            hx = None if hx is None else tuple(h.unsqueeze(0) for h in hx)
        if input.size(1) != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}"
            )
        if hx is None:
            zeros = ember.zeros(input.size(0), self.hidden_size, dtype=input.dtype)
            hx = (zeros,) * (2 if name == "LSTMCell" else 1)
        for i, h in enumerate(hx):
            if h.size(0) != input.size(0):
                raise RuntimeError(
                    f"Input batch size {input.size(0)} doesn't match hidden{i} batch size "
                    f"{h.size(0)}"
                )
            if h.size(1) != self.hidden_size:
                raise RuntimeError(
                    f"hidden{i} has inconsistent hidden_size: got {h.size(1)}, "
                    f"expected {self.hidden_size}"
                )
        return batched, input, hx

    def _step(self, mode: str, input: Tensor, hx: tuple | None) -> tuple:
        """One step of `mode` on (possibly unbatched) input; the new state tuple."""
        batched, input, hx = self._prepare(input, hx)
        gates_in = _linear(input, self.weight_ih, self.bias_ih)
        state = _STEPS[mode](gates_in, hx, self.weight_hh, self.bias_hh)
        return state if batched else tuple(s.squeeze(0) for s in state)


class RNNCell(RNNCellBase):
    """One Elman step: h' = tanh (or relu)(W_ih x + b_ih + W_hh h + b_hh)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """h' of shape (B, H), or (H,) for an unbatched input."""
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        # Matches torch: an unknown nonlinearity is only an error when the cell runs.
        if self.nonlinearity not in modes:
            self._prepare(input, None if hx is None else (hx,))
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._step(modes[self.nonlinearity], input, None if hx is None else (hx,))[0]


class LSTMCell(RNNCellBase):
    """One LSTM step; returns (h', c')."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        """(h', c'), each (B, H), or (H,) for an unbatched input."""
        return self._step("LSTM", input, None if hx is None else tuple(hx))


class GRUCell(RNNCellBase):
    """One GRU step; returns h'."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """h' of shape (B, H), or (H,) for an unbatched input."""
        return self._step("GRU", input, None if hx is None else (hx,))[0]
