"""Explanations side by side: our LIME vs Captum's `Lime` vs the `lime` package, and our batched SmoothGrad vs
Captum's `NoiseTunnel`, on the same model, image(s), superpixels and sample counts.

Model: the explain section's CNN (`experiments.explain.common.trained_cnn`, seed 0: conv 8, conv 16, linear;
150 Adam steps on mnist5k). LIME explains P(true class) (softmax) of one correctly classified test digit on
4 × 4 blocks (49 superpixels), superpixels switched off to 0, the kernel exp(−d²/(2·0.25²)) on the cosine
distance of z to the all-on vector, a ridge surrogate (α = 1): the lime package's image defaults, given to
Captum as its similarity function and `SkLearnRidge(alpha=1)`. Ours and Captum get the same perturbations
(Captum through `perturb_func`), so their weights must agree exactly; the lime package draws its own (and adds
the unperturbed image as sample 0). Agreement: |top-5 ∩ reference top-5| / 5, the reference being ours at
20,000 samples. Seconds: median of --repeats, methods interleaved, after a warm-up call, 1 torch thread.

    .venv/bin/python bench/explain.py [--samples 1000] [--repeats 5] [--threads 1]

The lime package (PyPI `lime`, bench-only) is optional: without it its row is left out. Quantus (PyPI
`quantus`, optional) adds its `MPRT` (cascading randomisation, Spearman of |map|) beside ours when importable.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import Lime, NoiseTunnel, Saliency

from mllab.experiments.explain.common import correct_test_images, trained_cnn
from mllab.explain import block_segments, draw_masks, lime, smoothgrad

WIDTH, ALPHA = 0.25, 1.0


def timed(function, repeats):
    """(median seconds, last result), after one warm-up call."""
    function()
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def interpretable_kernel(original, perturbed, z, **kwargs):
    d = 1 - torch.nn.functional.cosine_similarity(z.double().flatten(), torch.ones(z.numel()).double(), dim=0)
    return float(torch.exp(-d ** 2 / (2 * WIDTH ** 2)))


def top5(weights) -> set[int]:
    return set(np.argsort(-np.asarray(weights))[:5].tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--image", type=int, default=0, help="which correctly classified test image")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, acc = trained_cnn(0)
    probs = torch.nn.Sequential(model, torch.nn.Softmax(1)).eval()
    xs, ys = correct_test_images(model, 0, args.image + 16)
    x, c = xs[args.image:args.image + 1], int(ys[args.image])
    seg = block_segments(28, 28, 4)
    S = args.samples
    masks = draw_masks(S, 49, torch.Generator().manual_seed(0))
    reference = top5(lime(probs, x, c, seg, n_samples=20_000, kernel_width=WIDTH, alpha=ALPHA,
                          generator=torch.Generator().manual_seed(123)).weights)
    rows = []

    def ours():
        return lime(probs, x, c, seg, masks=masks, kernel_width=WIDTH, alpha=ALPHA, batch_size=256).weights.numpy()

    def captum(per_eval):
        def call():
            samples = iter(masks)
            return Lime(probs, interpretable_model=SkLearnRidge(alpha=ALPHA), similarity_func=interpretable_kernel,
                        perturb_func=lambda inputs, **kw: next(samples)[None]).attribute(
                x, target=c, feature_mask=seg[None, None], n_samples=S, perturbations_per_eval=per_eval,
                return_input_shape=False)[0].numpy()
        return call

    methods = {"mllab lime (batched, 256 per forward)": ours,
               "Captum Lime, perturbations_per_eval=1 (its default)": captum(1),
               "Captum Lime, perturbations_per_eval=256": captum(256)}
    try:
        from lime import lime_image

        def lime_package():
            def classify(images):  # (N, 28, 28, 3) float64 -> (N, 10) probabilities
                with torch.no_grad():
                    return probs(torch.from_numpy(images[..., :1]).permute(0, 3, 1, 2).float()).numpy()
            image = np.repeat(x[0, 0].numpy()[..., None].astype(np.float64), 3, -1)
            explanation = lime_image.LimeImageExplainer(kernel_width=WIDTH, random_state=0).explain_instance(
                image, classify, labels=(c,), top_labels=None, hide_color=0, num_features=49, num_samples=S,
                batch_size=256, segmentation_fn=lambda im: seg.numpy())
            weights = np.zeros(49)
            for feature, w in explanation.local_exp[c]:
                weights[feature] = w
            return weights
        methods["lime 0.2.0.1 (LimeImageExplainer, batch_size=256)"] = lime_package
    except ImportError:
        pass
    results = {}
    for name, function in methods.items():
        seconds, weights = timed(function, args.repeats)
        results[name] = weights
        rows.append((name, seconds, len(top5(weights) & reference) / 5))
    base = results["mllab lime (batched, 256 per forward)"]
    print(f"LIME: {S} samples, 49 block superpixels, CNN test accuracy {acc:.3f}, target class {c}, "
          f"{args.threads} thread(s)\n")
    print("| method | seconds (median) | top-5 agreement with reference | max |Δ weight| vs mllab |")
    print("|---|---|---|---|")
    for name, seconds, agreement in rows:
        print(f"| {name} | {seconds:.3f} | {agreement:.1f} | {np.abs(results[name] - base).max():.1e} |")

    B, n, noise = 16, 50, 0.15
    xb, yb = xs[:B], ys[:B]
    std = float(noise * (xb.max() - xb.min()))  # one σ for the batch (Captum's stdevs is per input tensor)

    def ours_sg():
        torch.manual_seed(0)
        return smoothgrad(model, xb, yb, n=n, std=std, batch_size=256)

    def captum_sg(batch):
        def call():
            torch.manual_seed(0)
            return NoiseTunnel(Saliency(model)).attribute(xb.clone(), nt_type="smoothgrad", nt_samples=n, stdevs=std,
                                                          target=yb, nt_samples_batch_size=batch)
        return call

    print(f"\nSmoothGrad: {B} images × n = {n} copies, σ = {std:.3f} (15 % of the range), same noise draws\n")
    print("| method | seconds (median) | max |Δ| vs mllab |")
    print("|---|---|---|")
    sg = {"mllab smoothgrad (256 copies per pass)": ours_sg,
          "Captum NoiseTunnel(Saliency), nt_samples_batch_size=None (all at once)": captum_sg(None),
          "Captum NoiseTunnel(Saliency), nt_samples_batch_size=1": captum_sg(1)}
    first = None
    for name, function in sg.items():
        seconds, maps = timed(function, args.repeats)
        first = maps if first is None else first
        print(f"| {name} | {seconds:.3f} | {float((maps - first).abs().max()):.1e} |")

    quantus_mprt(model, xs[:16], ys[:16])


def quantus_mprt(model, x, y) -> None:
    """Quantus's model-parameter randomisation test of our saliency beside `cascading_randomisation`."""
    try:
        import quantus
    except ImportError:
        print("\nQuantus not installed: MPRT comparison skipped")
        return
    from mllab.explain import saliency
    from mllab.explain.evaluate import cascading_randomisation, rank_correlation

    for p in model.parameters():
        p.requires_grad_(True)

    def explain(model, inputs, targets, **kwargs):
        return saliency(model.eval(), torch.as_tensor(inputs).float(), torch.as_tensor(targets).long()).numpy()

    metric = quantus.MPRT(similarity_func=quantus.similarity_func.correlation_spearman, layer_order="top_down",
                          abs=True, normalise=False, disable_warnings=True)
    scores = metric(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=None, explain_func=explain,
                    device="cpu")
    original = saliency(model, x, y)
    ours = {names[-1]: float(rank_correlation(original, saliency(m.eval(), x, y)).mean())
            for names, m in cascading_randomisation(model, seed=0)}
    print(f"\nCascading randomisation of saliency, {len(x)} digits, mean Spearman |ρ| after each layer:")
    print("| layer re-initialised (cumulative) | Quantus MPRT | mllab |")
    print("|---|---|---|")
    for layer, rho in ours.items():
        print(f"| {layer} | {float(np.mean(scores[layer])):.3f} | {rho:.3f} |")


if __name__ == "__main__":
    main()
