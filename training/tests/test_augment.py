import torch

from fer_train.augment import AugmentConfig, augment


def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 48, 48, generator=g)


def test_shape_range_and_determinism():
    x = _batch()
    cfg = AugmentConfig()
    a = augment(x, cfg, torch.Generator().manual_seed(5))
    b = augment(x, cfg, torch.Generator().manual_seed(5))
    c = augment(x, cfg, torch.Generator().manual_seed(6))
    assert a.shape == x.shape and a.dtype == torch.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)


def test_identity_config_only_flips():
    x = _batch(32)
    cfg = AugmentConfig(scale=(1.0, 1.0), max_rotate_deg=0.0, max_shift=0.0, flip=True, brightness=0.0,
                        contrast=0.0, erase_p=0.0)
    y = augment(x, cfg, torch.Generator().manual_seed(1))
    flipped = torch.flip(x, dims=[3])
    kinds = []
    for i in range(len(x)):
        if torch.allclose(y[i], x[i], atol=1e-5):
            kinds.append("same")
        elif torch.allclose(y[i], flipped[i], atol=1e-5):
            kinds.append("flip")
        else:
            kinds.append("other")
    assert "other" not in kinds
    assert {"same", "flip"} <= set(kinds)  # both happen in 32 draws at p=0.5


def test_erasing_changes_a_box_only():
    x = torch.full((8, 1, 48, 48), 0.5)
    cfg = AugmentConfig(scale=(1.0, 1.0), max_rotate_deg=0.0, max_shift=0.0, flip=False, brightness=0.0,
                        contrast=0.0, erase_p=1.0, erase_area=(0.05, 0.1))
    y = augment(x, cfg, torch.Generator().manual_seed(2))
    changed = (y != 0.5).float().mean(dim=(1, 2, 3))
    assert bool((changed > 0.02).all()) and bool((changed < 0.15).all())
