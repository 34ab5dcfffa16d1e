from __future__ import annotations

import pytest
import torch
from torch import nn

from sentimentkit.encoders.lora import LoRALinear, add_lora, merge_lora


def test_lora_starts_as_the_base_function_and_merges_exactly():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(5, 8)
    before = net(x)
    assert add_lora(net, ["0", "2"], r=2, alpha=4, dropout=0.0) == 2
    assert torch.allclose(net(x), before)  # B is zero at start
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, LoRALinear):
                module.lora_b.normal_()
    adapted = net(x)
    assert not torch.allclose(adapted, before)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"0.lora_a", "0.lora_b", "2.lora_a", "2.lora_b"}
    assert merge_lora(net) == 2
    assert all(type(m) is not LoRALinear for m in net.modules())
    assert torch.allclose(net(x), adapted, atol=1e-5)


def test_add_lora_without_matches_fails():
    with pytest.raises(ValueError, match="no nn.Linear"):
        add_lora(nn.Sequential(nn.Linear(2, 2)), ["query"], r=2, alpha=2, dropout=0.0)
