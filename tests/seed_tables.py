"""Seed tables shared by tests: seed 002's train/val label prevalences and an exact generator."""

import numpy as np

# Seed 002 (thread 5a365d6c87280833): per-image prevalence (%) of 19 classes, train vs validation.
SEED_002 = {
    "obj_1": (3.9832, 0.0000),
    "obj_2": (70.6678, 33.3253),
    "obj_3": (89.9084, 98.5371),
    "obj_4": (85.6781, 81.4631),
    "obj_5": (92.7638, 71.4327),
    "obj_6": (99.9690, 100.0000),
    "obj_7": (90.5899, 96.1605),
    "obj_8": (77.1223, 91.8368),
    "obj_9": (94.6200, 98.8323),
    "obj_10": (88.2051, 95.0989),
    "obj_11": (3.8838, 9.3670),
    "obj_12": (50.0131, 24.8709),
    "obj_13": (0.0056, 0.0000),
    "obj_14": (0.3237, 0.0000),
    "obj_15": (61.3438, 94.1573),
    "obj_16": (93.8729, 98.1648),
    "obj_17": (93.8731, 97.5094),
    "obj_18": (59.2404, 70.1059),
    "obj_19": (8.5414, 26.8762),
}


def exact_multi_hot(n: int, prevalences: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multi-hot with exactly round(p * n) random positives per class (observed = table)."""
    m = np.zeros((n, prevalences.size), dtype=bool)
    for j, p in enumerate(prevalences):
        m[rng.choice(n, int(round(p * n)), replace=False), j] = True
    return m
