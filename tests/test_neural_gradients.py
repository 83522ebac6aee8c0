"""The trainer's hand-derived gradients against autograd applied to the pure losses (float64 reference)."""

import copy

import pytest
import torch

from rift_core.neural import (GaussianPolicy, ResidualPolicy, TwinCritic, critic_loss, entropy_actor_loss, gaussian_kl,
                              rift_actor_loss)
from rift_core.neural.gradients import (actor_output_grads, adam_step, critic_activations, critic_backward,
                                        policy_activations, policy_backward)
from rift_core.neural.policies import squashed_log_prob

torch.set_num_threads(1)
OBS, ACT, B = 5, 3, 64


def _close(ours, reference, what):
    for i, (a, b) in enumerate(zip(ours, reference, strict=True)):
        scale = float(b.abs().max().detach()) + 1e-12
        err = float((a.double() - b).abs().max().detach())
        assert err <= 2e-5 * scale, f"{what}[{i}]: max error {err:.2e} against scale {scale:.2e}"


def _batch(seed):
    g = torch.Generator().manual_seed(seed)
    return g, torch.randn(B, OBS, generator=g), torch.tanh(torch.randn(B, ACT, generator=g))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_critic_gradient_matches_autograd(seed):
    g, obs, act = _batch(seed)
    torch.manual_seed(seed)
    critic = TwinCritic(OBS, ACT, (16, 8))
    y = torch.randn(B, generator=g)
    reference = copy.deepcopy(critic).double()
    critic_loss(reference(obs.double(), act.double()), y.double()).backward()
    hs = critic_activations(critic, torch.cat([obs, act], 1))
    q = hs[-1][..., 0]
    dw, db, _ = critic_backward(critic, hs, (q - y) * (2.0 / q.numel()))
    _close(dw + db, [p.grad for p in (*reference.weights, *reference.biases)], "critic")


def _actor(kind, activation, bounds):
    torch.manual_seed(3)
    if kind == "residual":
        prior = GaussianPolicy(OBS, ACT, (16, 16), activation, bounds)
        actor = ResidualPolicy(prior, (16, 12), activation)
        for p in actor.residual_head.parameters():  # leave zero initialisation, so the residual's gradient flows
            torch.nn.init.normal_(p, std=0.3)
        return actor
    return GaussianPolicy(OBS, ACT, (16, 12), activation, bounds)


@pytest.mark.parametrize("kind,activation,regulariser", [
    ("residual", "relu", "kl"), ("residual", "tanh", "kl"), ("gaussian", "relu", "entropy"),
    ("gaussian", "elu", "entropy"), ("gaussian", "leaky_relu", "none"), ("gaussian", "tanh", "none")])
@pytest.mark.parametrize("bounds", [(-5.0, 2.0), (-0.3, 0.2)], ids=["wide", "clamping"])
def test_actor_gradient_matches_autograd(kind, activation, regulariser, bounds):
    """L = mean_b [alpha R - min_j Q_j(s, tanh(mu + sigma eps))] for rift (KL), SAC (entropy) and fine-tuning."""
    g, obs, _ = _batch(7)
    eps = torch.randn(B, ACT, generator=g)
    alpha = 0.3
    actor = _actor(kind, activation, bounds)
    torch.manual_seed(4)
    critic = TwinCritic(OBS, ACT, (16, 8))
    prior_out = actor.prior(obs) if kind == "residual" else None

    reference, ref_critic = copy.deepcopy(actor).double(), copy.deepcopy(critic).double()
    ref_prior = tuple(t.double() for t in prior_out) if prior_out is not None else None
    mu, log_std = reference(obs.double(), ref_prior) if kind == "residual" else reference(obs.double())
    u = mu + log_std.exp() * eps.double()
    q = ref_critic(obs.double(), torch.tanh(u), detach=True)
    if regulariser == "kl":
        loss = rift_actor_loss(q, gaussian_kl(mu, log_std, *ref_prior), alpha)
    elif regulariser == "entropy":
        loss = entropy_actor_loss(q, squashed_log_prob(u, mu, log_std), alpha)
    else:
        loss = entropy_actor_loss(q, torch.zeros(B, dtype=torch.float64), 0.0)
    loss.backward()
    expected = [p.grad for p in reference.parameters() if p.requires_grad]

    with torch.no_grad():
        mu, log_std, raw, hs = policy_activations(actor, obs, prior_out)
        a = torch.tanh(mu + log_std.exp() * eps)
        hq = critic_activations(critic, torch.cat([obs, a], 1))
        q = hq[-1][..., 0]
        dq = torch.zeros_like(q).scatter_(0, q.min(0).indices[None], -1.0 / B)
        g_action = critic_backward(critic, hq, dq, weights=False, input_rows=slice(OBS, None))[2]
        d_mu, d_log_std = actor_output_grads(regulariser, alpha, g_action, mu, log_std, eps, a, prior_out)
        ours = policy_backward(actor, hs, d_mu, d_log_std, raw)
    if bounds == (-0.3, 0.2):  # the clamp is active somewhere, so its zero gradient is exercised
        assert ((raw < bounds[0]) | (raw > bounds[1])).any()
    _close(ours, expected, f"{kind}/{activation}/{regulariser}")


def test_adam_step_equals_torch_adam_bit_for_bit():
    torch.manual_seed(0)
    net_a = TwinCritic(OBS, ACT, (8, 8))
    net_b = copy.deepcopy(net_a)
    opt_a = torch.optim.Adam(net_a.parameters(), lr=1e-2, fused=True)
    opt_b = torch.optim.Adam(net_b.parameters(), lr=1e-2, fused=True)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=g) for p in net_a.parameters()]
        for p, gr in zip(net_a.parameters(), grads):
            p.grad = gr.clone()
        opt_a.step()
        adam_step(opt_b, grads)
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(a, b)
    assert str(opt_a.state_dict()) == str(opt_b.state_dict())
    with pytest.raises(ValueError, match="gradients for"):
        adam_step(opt_b, grads[:2])
    with pytest.raises(ValueError, match="fused Adam"):
        adam_step(torch.optim.Adam(net_b.parameters(), weight_decay=0.1, fused=True), grads)


def test_bfloat16_gradients_match_autocast():
    """With bf16 the products run in bfloat16 as under torch.autocast: the gradients agree with autocast + autograd
    far more closely than either agrees with float32 (about 5% here)."""
    g, obs, act = _batch(5)
    torch.manual_seed(5)
    critic = TwinCritic(OBS, ACT, (64, 64))
    y = torch.randn(B, generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q = critic(obs, act).float()
    critic_loss(q, y).backward()
    with torch.no_grad():
        hs = critic_activations(critic, torch.cat([obs, act], 1), torch.bfloat16)
        q = hs[-1][..., 0].float()
        dw, db, _ = critic_backward(critic, hs, (q - y) * (2.0 / q.numel()), torch.bfloat16)
    assert all(t.dtype == torch.float32 for t in dw + db)
    for ours, p in zip(dw + db, (*critic.weights, *critic.biases)):
        assert float((ours - p.grad).norm() / p.grad.norm()) < 5e-3
