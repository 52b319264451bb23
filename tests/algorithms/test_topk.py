import torch

from algorithms.topk import global_topk, keep_top, layer_topk


def test_keeps_exactly_k_with_ties_to_the_lower_index() -> None:
    scores = torch.tensor([[1.0, 2.0, 2.0, 2.0, 2.0, 0.5]])
    kept = keep_top(scores, torch.tensor([3]), None)
    assert kept.tolist() == [[False, True, True, True, False, False]]
    # A threshold rule (keep > 3rd value) would keep none of the tied 2.0s.
    assert int((scores > scores.sort(descending=True).values[0, 2]).sum()) == 0


def test_per_model_budgets_and_nan_ranks_last() -> None:
    scores = torch.tensor([[3.0, float("nan"), 1.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    kept = keep_top(scores, torch.tensor([3, 2]), None)
    assert kept.sum(1).tolist() == [3, 2]
    assert kept[0].tolist() == [True, False, True, True]
    assert kept[1].tolist() == [True, True, False, False]


def test_ineligible_entries_are_never_kept_before_eligible_ones() -> None:
    scores = [torch.tensor([[[1.0, 9.0], [2.0, 2.0]]]), torch.tensor([[[2.0, 0.5]]])]
    eligible = [torch.tensor([[[True, False], [True, True]]]), torch.tensor([[[False, True]]])]
    kept = global_topk(scores, torch.tensor([3]), eligible)
    assert kept[0].tolist() == [[[True, False], [True, True]]]
    assert kept[1].tolist() == [[[False, False]]]


def test_global_matches_a_plain_sort_on_random_scores() -> None:
    g = torch.Generator().manual_seed(0)
    scores = [
        torch.randint(0, 5, (4, 3, 2), generator=g).float(),
        torch.randint(0, 5, (4, 1, 3), generator=g).float(),
    ]
    k = torch.tensor([1, 4, 6, 9])
    kept = global_topk(scores, k)
    for m in range(4):
        flat = torch.cat([s[m].flatten() for s in scores]).tolist()
        ranked = sorted(range(len(flat)), key=lambda i: (-flat[i], i))[: int(k[m])]
        expected = [i in ranked for i in range(len(flat))]
        assert torch.cat([kk[m].flatten() for kk in kept]).tolist() == expected


def test_layer_topk_budgets_each_layer() -> None:
    scores = [torch.rand(2, 3, 2), torch.rand(2, 1, 3)]
    kept = layer_topk(scores, torch.tensor([[4, 1], [2, 3]]))
    assert kept[0].flatten(1).sum(1).tolist() == [4, 2]
    assert kept[1].flatten(1).sum(1).tolist() == [1, 3]
