import torch
from torch import nn

from conftest import tiny_net
from fer_train.fold import fold_conv_bn, fold_model


def test_conv_bn_fold_is_exact():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=True)
    bn = nn.BatchNorm2d(5, eps=1e-3)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.1, 3)
        bn.weight.uniform_(-2, 2)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(4, 3, 9, 9)
    with torch.no_grad():
        ref = bn(conv(x))
        got = fold_conv_bn(conv, bn)(x)
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(conv(x), ref, atol=1e-2)  # the BN really does something


def test_folded_model_matches_and_has_no_batchnorm():
    net = tiny_net(seed=1)
    folded = fold_model(net, probabilities=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert all(isinstance(m, (nn.Conv2d, nn.ReLU, nn.MaxPool2d)) for m in folded.features)
    x = torch.randn(6, 1, 48, 48)
    with torch.no_grad():
        logits = net(x)
        assert torch.allclose(folded(x), logits, atol=1e-5)
        probs = fold_model(net, probabilities=True)(x)
    assert torch.allclose(probs, torch.softmax(logits, 1), atol=1e-6)
    assert torch.allclose(probs.sum(1), torch.ones(6))
    # folding did not touch the source model (still trainable with BN)
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
