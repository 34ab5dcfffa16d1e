from __future__ import annotations

import pytest
import torch
from torch import nn

from sentimentkit.encoders.lora import LoRALinear, add_lora, live_name, merge_lora, saved_name, use_adapter


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
                assert module.adapters == ["default"]
                module.lora_b["default"].normal_()
    adapted = net(x)
    assert not torch.allclose(adapted, before)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"0.lora_a.default", "0.lora_b.default", "2.lora_a.default", "2.lora_b.default"}
    assert merge_lora(net) == 2
    assert all(type(m) is not LoRALinear for m in net.modules())
    assert torch.allclose(net(x), adapted, atol=1e-5)


def test_add_lora_without_matches_fails():
    with pytest.raises(ValueError, match="no nn.Linear"):
        add_lora(nn.Sequential(nn.Linear(2, 2)), ["query"], r=2, alpha=2, dropout=0.0)


def test_named_adapters_share_one_base_and_are_chosen_per_call():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8))
    x = torch.randn(5, 8)
    base = net(x)
    add_lora(net, ["0"], r=2, alpha=4, dropout=0.0, name="one")
    alone = net[0]
    with torch.no_grad():
        alone.lora_b["one"].normal_()
    one = net(x)  # a layer holding exactly one adapter applies it when none is selected
    assert not torch.allclose(one, base)
    add_lora(net, ["0"], r=2, alpha=4, dropout=0.0, name="two")
    assert net[0] is alone and alone.adapters == ["one", "two"]
    with torch.no_grad():
        alone.lora_b["two"].normal_()
    assert torch.allclose(net(x), base)  # two adapters and none selected: the bare base
    with use_adapter("one"):
        assert torch.allclose(net(x), one)
    with use_adapter("two"):
        two = net(x)
    assert not torch.allclose(two, one) and not torch.allclose(two, base)
    with use_adapter("other"):  # another model's adapter: this layer adds nothing
        assert torch.allclose(net(x), base)
    with pytest.raises(ValueError, match="already on this layer"):
        add_lora(net, ["0"], r=2, alpha=4, dropout=0.0, name="one")
    with pytest.raises(ValueError, match="cannot merge 2 adapters"):
        merge_lora(net)


def test_checkpoint_names_drop_the_adapter_name_and_come_back():
    assert saved_name("encoder.query.lora_a.adapter1", {"adapter1"}) == "encoder.query.lora_a"
    assert saved_name("encoder.query.lora_b.adapter2", {"adapter1"}) is None  # another model's adapter
    assert saved_name("head.weight", {"adapter1"}) == "head.weight"
    assert live_name("encoder.query.lora_b", "adapter1") == "encoder.query.lora_b.adapter1"
    assert live_name("head.weight", "adapter1") == "head.weight"
