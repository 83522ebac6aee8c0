r"""Hand-derived gradients of the actor-critic losses: the trainer's update without an autograd graph.

At the widths used in continuous control (64 to 256 units) on a CPU, recording
and walking autograd's graph costs as much as the matrix products themselves.
The networks are multilayer perceptrons and the losses of
:mod:`~rift_core.neural.losses` are closed forms, so their gradients are a few
matrix products each, written here once; the trainer runs them under
``torch.no_grad()``. The tests check every gradient against autograd applied
to the pure losses.

Notation (per batch element, actions ``a = tanh(u)``, ``u = mu + sigma * eps``
with ``eps ~ N(0, I)`` fixed, the reparameterisation):

- critic loss ``L_Q = mean_{j, b} (Q_j(s_b, a_b) - y_b)^2``:
  ``dL_Q / dQ_j(s_b, a_b) = 2 (Q_j - y_b) / (n B)``, back through the critic's layers;
- actor loss ``L_pi = mean_b [alpha R_b - min_j Q_j(s_b, tanh(u_b))]`` with ``R`` the
  closed-form KL to the prior (rift), ``log pi(a|s)`` (entropy) or ``0``:
  ``dL_pi/du = -(1/B) (1 - a^2) dQ_{j*}/da`` (``j*`` the minimising critic), then
  :func:`actor_output_grads` adds the regulariser's terms and maps ``u`` to ``(mu, log sigma)``.

bfloat16 (``TrainConfig.bf16``): the matrix products run on bfloat16 copies of
the weights and activations; losses, gradients of the outputs and the weight
gradients handed to Adam are float32, as under ``torch.autocast``.
"""

from __future__ import annotations

import torch
from torch import nn

from .policies import GaussianPolicy, ResidualPolicy, TwinCritic

__all__ = ["critic_activations", "critic_backward", "policy_activations", "policy_backward", "actor_output_grads",
           "adam_step"]


def _cast(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # float32 parameters need no cast: skip even the no-op call (about 1 us each, dozens per update)
    return t if t.dtype is dtype else t.to(dtype)


def _apply(activation: str, x: torch.Tensor) -> torch.Tensor:
    if activation == "relu":
        return x.relu_()
    if activation == "tanh":
        return x.tanh_()
    if activation == "elu":
        return nn.functional.elu_(x)
    return nn.functional.leaky_relu_(x)


def _backward_through(activation: str, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``g * f'(z)`` written with the activation's output ``h = f(z)`` (the four activations are sign preserving)."""
    if activation == "relu":  # one fused kernel; far cheaper than g * (h > 0)
        return torch.ops.aten.threshold_backward(g, h, 0.0)
    if activation == "tanh":
        return g * (1 - h * h)
    if activation == "elu":  # nn.ELU's alpha = 1: f'(z) = 1 for z > 0, else e^z = h + 1
        return torch.where(h > 0, g, g * (h + 1))
    return torch.where(h > 0, g, g * 0.01)  # nn.LeakyReLU's slope 0.01


# ------------------------------------------------------------------ critics
def critic_activations(critic: TwinCritic, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    r"""``[x, h_1, ..., q]`` of the ``n`` critics at inputs ``x`` (batch, obs_dim + act_dim):
    ``h_l = relu(h_{l-1} W_l + b_l)``, each of shape ``(n, batch, width)``; the last, ``q``, has width 1.
    The returned list also carries ``.weights``, the weights cast to ``dtype``, which :func:`critic_backward`
    reuses (one cast per forward pass)."""
    h = _cast(x, dtype).expand(critic.n, -1, -1)
    hs, last = _Activations([h]), len(critic.weights) - 1
    hs.weights = [_cast(w, dtype) for w in critic.weights]
    for i, (w, b) in enumerate(zip(hs.weights, critic.biases)):
        if i == last:  # q = (w^T h^T)^T: a matrix-vector product's fast kernel (4x faster than h w at width 256)
            hs.append(torch.baddbmm(_cast(b, dtype), w.transpose(1, 2), h.transpose(1, 2)).transpose(1, 2))
        else:
            h = torch.baddbmm(_cast(b, dtype), h, w).relu_()
            hs.append(h)
    return hs


class _Activations(list):
    """A list of activations that also carries the weights (cast to the products' dtype) that made them."""

    weights: list[torch.Tensor]


def critic_backward(critic: TwinCritic, hs: list[torch.Tensor], dq: torch.Tensor, dtype: torch.dtype = torch.float32,
                    weights: bool = True, input_rows: slice | None = None):
    r"""Back-propagate ``dq = dL/dq`` (shape ``(n, batch)``) through the critics whose activations ``hs`` came from
    :func:`critic_activations` with the same ``dtype``.

    Returns ``(dW, db, dx)``: ``dW_l = h_{l-1}^T g_l`` and ``db_l = sum_b g_l`` (float32, or ``None`` when
    ``weights`` is False) and, when ``input_rows`` is given, ``dx = sum_j g_1 W_1[j, input_rows]^T``, the gradient
    with respect to those input columns (the action's, for the actor's loss).
    """
    g = _cast(dq, dtype)[..., None]
    dws, dbs, dx = [], [], None
    weights_cast = hs.weights
    for i in range(len(critic.weights) - 1, -1, -1):
        w = weights_cast[i]
        if weights:  # a one-unit layer's dW = (g^T h)^T: again the matrix-vector kernel (10x faster at width 256)
            dw = torch.bmm(g.transpose(1, 2), hs[i]).transpose(1, 2) if g.shape[-1] == 1 \
                else torch.bmm(hs[i].transpose(1, 2), g)
            dws.append(_cast(dw, torch.float32))
            dbs.append(_cast(g.sum(1, keepdim=True), torch.float32))
        if i == 0:
            if input_rows is not None:
                dx = _cast(torch.bmm(g, w[:, input_rows].transpose(1, 2)).sum(0), torch.float32)
            break
        # a one-unit output layer is an outer product: a broadcast, not a matrix product
        g = g * w.transpose(1, 2) if w.shape[-1] == 1 else torch.bmm(g, w.transpose(1, 2))
        g = _backward_through("relu", g, hs[i])
    return (dws[::-1], dbs[::-1], dx) if weights else (None, None, dx)


# ------------------------------------------------------------------ policies
def _layers(policy) -> tuple[list[nn.Linear], str, list[nn.Linear]]:
    """(trunk's linear layers, activation, heads), looked up once per policy (a policy's layout never changes) and
    kept in its ``__dict__`` (a plain attribute that torch.compile can guard on, unlike a weak dictionary)."""
    found = policy.__dict__.get("_gradient_layers")
    if found is None:
        if isinstance(policy, ResidualPolicy):
            found = ([m for m in policy.residual_latent if isinstance(m, nn.Linear)], policy.activation,
                     [policy.residual_head])
        elif isinstance(policy, GaussianPolicy):
            found = ([m for m in policy.latent if isinstance(m, nn.Linear)], policy.activation,
                     [policy.mu, policy.log_std])
        else:
            raise TypeError(f"expected a GaussianPolicy or a ResidualPolicy, got {type(policy).__name__}")
        policy.__dict__["_gradient_layers"] = found
    return found


def policy_activations(policy, obs: torch.Tensor, prior_out: tuple[torch.Tensor, torch.Tensor] | None = None,
                       dtype: torch.dtype = torch.float32, weights: list[torch.Tensor] | None = None):
    r"""``(mu, log_sigma, log_sigma_unclamped, hs)`` of a :class:`GaussianPolicy` or :class:`ResidualPolicy`.

    Gaussian: ``(mu, log sigma) = (W_mu z + b_mu, clamp(W_sigma z + b_sigma))``; residual:
    ``(mu0 + dmu, clamp(log sigma0 + dlog sigma))`` with the prior's outputs ``prior_out`` (computed if ``None``).
    ``hs`` are the trunk's activations ``[obs, z_1, ..., z_L]`` (carrying the cast weights) for
    :func:`policy_backward`; ``weights``, an earlier call's ``hs.weights`` on the unchanged policy, skips the casts.
    """
    trunk, activation, heads = _layers(policy)
    h = _cast(obs, dtype)
    hs = _Activations([h])
    if weights is None:
        # each head by its own product, as nn.Linear computes it, so that acting, training and a saved policy's
        # predict give the same bits
        weights = [_cast(lin.weight, dtype) for lin in trunk] + [_cast(lin.weight, dtype) for lin in heads]
    hs.weights = weights
    for lin, w in zip(trunk, weights):
        h = _apply(activation, torch.addmm(_cast(lin.bias, dtype), h, w.t()))
        hs.append(h)
    heads_cast = weights[len(trunk):]
    out = _cast(torch.cat([torch.addmm(_cast(lin.bias, dtype), h, w.t()) for lin, w in zip(heads, heads_cast)], 1),
                torch.float32)
    k = policy.act_dim
    if isinstance(policy, ResidualPolicy):
        if prior_out is None:
            prior_out = policy.prior(obs)
        mu, log_std = prior_out[0] + out[:, :k], prior_out[1] + out[:, k:]
        bounds = policy.prior.log_std_bounds
    else:
        mu, log_std = out[:, :k], out[:, k:]
        bounds = policy.log_std_bounds
    return mu, log_std.clamp(*bounds), log_std, hs


def policy_backward(policy, hs: list[torch.Tensor], d_mu: torch.Tensor, d_log_std: torch.Tensor,
                    log_std_unclamped: torch.Tensor, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    r"""Gradients (float32) of the policy's trainable parameters, in :meth:`torch.nn.Module.parameters` order of its
    linear layers, from ``dL/dmu``, ``dL/dlog sigma`` and the activations ``hs`` of :func:`policy_activations`. The clamp passes gradient where
    ``low <= log sigma <= high`` (as ``torch.clamp`` does)."""
    trunk, activation, heads = _layers(policy)
    low, high = (policy.prior if isinstance(policy, ResidualPolicy) else policy).log_std_bounds
    d_log_std = d_log_std * ((log_std_unclamped >= low) & (log_std_unclamped <= high))
    g = _cast(torch.cat([d_mu, d_log_std], dim=1), dtype)
    weights_cast = hs.weights
    head_cast = weights_cast[len(trunk):]
    w = torch.cat(head_cast) if len(head_cast) > 1 else head_cast[0]
    head_w, head_b = _cast(g.t() @ hs[-1], torch.float32), _cast(g.sum(0), torch.float32)
    grads: list[torch.Tensor] = []
    k = policy.act_dim
    if len(heads) == 1:
        head_grads = [head_w, head_b]
    else:
        head_grads = [head_w[:k], head_b[:k], head_w[k:], head_b[k:]]
    g = g @ w
    for i in range(len(trunk) - 1, -1, -1):
        g = _backward_through(activation, g, hs[i + 1])
        # dW = g^T h; with few inputs (the observation) as (h^T g)^T, which avoids a skinny product's slow kernel
        dw = (hs[i].t() @ g).t().contiguous() if hs[i].shape[1] < g.shape[1] else g.t() @ hs[i]
        grads = [_cast(dw, torch.float32), _cast(g.sum(0), torch.float32)] + grads
        if i > 0:
            g = g @ weights_cast[i]
    return grads + head_grads


def actor_output_grads(regulariser: str, alpha: float, g_action: torch.Tensor, mu: torch.Tensor,
                       log_std: torch.Tensor, eps: torch.Tensor, action: torch.Tensor,
                       prior_out: tuple[torch.Tensor, torch.Tensor] | None = None):
    r"""``(dL/dmu, dL/dlog sigma)`` of ``L = mean_b [alpha R_b - min_j Q_j(s_b, a_b)]`` given
    ``g_action = dL/da`` of its Q part (already divided by the batch size ``B``).

    With ``u = mu + sigma eps`` and ``a = tanh(u)``: ``dL/du = g_action (1 - a^2)``, so the Q part gives
    ``dL/dmu = dL/du`` and ``dL/dlog sigma = dL/du sigma eps``; the regulariser adds, divided by ``B``:

    - ``kl`` (``R = KL(N(mu, sigma) || N(mu0, sigma0))``): ``alpha (mu - mu0) / sigma0^2`` and
      ``alpha (sigma^2 / sigma0^2 - 1)``;
    - ``entropy`` (``R = log pi(a|s) = log N(u; mu, sigma) - sum_i log(1 - tanh(u_i)^2)``, whose ``u``-derivative
      at fixed ``eps`` is ``2 a``): ``alpha 2 a`` and ``alpha (2 a sigma eps - 1)``;
    - ``none``: nothing.
    """
    sigma = log_std.exp()
    d_u = g_action * (1 - action * action)
    d_mu, d_log_std = d_u, d_u * sigma * eps
    scale = alpha / mu.shape[0]
    if regulariser == "kl":
        inv_var0 = torch.exp(-2 * prior_out[1])
        d_mu = d_mu + scale * (mu - prior_out[0]) * inv_var0
        d_log_std = d_log_std + scale * (sigma * sigma * inv_var0 - 1)
    elif regulariser == "entropy":
        d_mu = d_mu + scale * 2 * action
        d_log_std = d_log_std + scale * (2 * action * sigma * eps - 1)
    elif regulariser != "none":
        raise ValueError(f"regulariser is {regulariser!r}, expected 'kl', 'entropy' or 'none'")
    return d_mu, d_log_std


def adam_step(optimizer: torch.optim.Adam, grads: list[torch.Tensor]) -> None:
    """``optimizer.step()`` with ``p.grad = g`` for a one-group fused :class:`torch.optim.Adam`, bit for bit, without
    its Python overhead (about 0.1 ms a call on these CPUs, as much as a 64-unit layer's matrix products).

    The state lives in ``optimizer.state`` exactly as :class:`torch.optim.Adam` keeps it (so ``state_dict``,
    checkpoints and a later ``optimizer.step()`` are unaffected); the update is torch's own fused kernel.
    """
    (group,) = optimizer.param_groups
    if not group["fused"] or group["amsgrad"] or group["maximize"] or group["weight_decay"] or group["capturable"] \
            or group["decoupled_weight_decay"]:
        raise ValueError("adam_step supports fused Adam without amsgrad, maximize, weight decay or capturable")
    params = group["params"]
    if len(grads) != len(params):
        raise ValueError(f"{len(grads)} gradients for {len(params)} parameters")
    states = [optimizer.state[p] for p in params]
    for p, st in zip(params, states):
        if not st:  # torch.optim.Adam's lazy initialisation for fused=True
            st["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    steps = [st["step"] for st in states]
    torch._foreach_add_(steps, 1)
    beta1, beta2 = group["betas"]
    torch._fused_adam_(params, [g.view_as(p) for g, p in zip(grads, params)], [st["exp_avg"] for st in states],
                       [st["exp_avg_sq"] for st in states], [], steps, amsgrad=False, lr=group["lr"], beta1=beta1,
                       beta2=beta2, weight_decay=0.0, eps=group["eps"], maximize=False, grad_scale=None,
                       found_inf=None)
