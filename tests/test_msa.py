"""MSA (methods/msa.py) on the tiny random SAM (width 64, depth 2, 64² working size): shapes, what trains, the
loss, the prompts, and loading a checkpoint in SAM's key layout with position-embedding interpolation."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from common.errors import InputError
from methods.base import Batch, EpochContext, OptimizerSettings, StepContext
from methods.msa import MSA, MSANetwork, click_prompts, is_trainable
from methods.registry import build_method
from methods.sam_checkpoint import load_sam_checkpoint
from methods.sam_model import Sam, SamConfig
from training.engine import build_networks, training_step

TINY = {"model_size": "tiny_test", "image_size": 64}
SETTINGS = OptimizerSettings(lr=5e-3, momentum=0.9, weight_decay=1e-5, epochs=1)


def tiny_method(**options: object) -> MSA:
    return build_method("msa", **{**TINY, **options})


def tiny_network(method: MSA | None = None, channels: int = 3) -> MSANetwork:
    (network,) = build_networks(method or tiny_method(), "unet_small", channels, 0)
    return network


def toy_batch(size: int = 32, batch_size: int = 2) -> Batch:
    labels = torch.zeros(batch_size, size, size, dtype=torch.int64)
    labels[:, size // 4:size // 2, size // 4:3 * size // 4] = 1
    images = (40 + 150 * labels[:, None].float()).expand(-1, 3, -1, -1).contiguous()
    return Batch(images=images, jittered=images, labels=labels, distance=torch.zeros(labels.shape),
                 superpixels=torch.zeros_like(labels))


def step_context(network: torch.nn.Module, iteration: int = 0) -> StepContext:
    return StepContext(epoch=0, num_epochs=1, tau=0.0, networks=[network],
                       generator=torch.Generator().manual_seed(iteration), iteration=iteration)


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_shapes_two_class_logits_and_grey_input() -> None:
    torch.manual_seed(0)
    network = tiny_network()
    images = torch.rand(2, 3, 20, 24) * 255
    logits = network(images)
    assert logits.shape == (2, 2, 20, 24)
    assert torch.equal(logits[:, 0], torch.zeros(2, 20, 24))
    normalised = (torch.rand(2, 3, 64, 64) - 0.5) * 4
    assert Sam.forward(network, normalised).shape == (2, 1, 16, 16)
    assert network.image_encoder(normalised).shape == (2, 32, 4, 4)
    grey = tiny_network(channels=1)
    assert grey(images[:, :1]).shape == (2, 2, 20, 24)
    assert torch.equal(grey(images[:, :1]), grey(images[:, :1].expand(-1, 3, -1, -1)))
    points, point_labels = torch.tensor([[[10.0, 20.0]]]).expand(2, -1, -1), torch.ones(2, 1, dtype=torch.int64)
    assert network(images, points, point_labels).shape == (2, 2, 20, 24)


def test_sam_pixel_normalisation_is_applied() -> None:
    network = tiny_network()
    seen = []
    network.image_encoder.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    network(torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1).expand(1, 3, 64, 64).contiguous())
    network(torch.tensor([123.675 + 58.395, 116.28, 103.53]).view(1, 3, 1, 1).expand(1, 3, 64, 64).contiguous())
    assert torch.allclose(seen[0], torch.zeros(1, 3, 64, 64), atol=1e-6)
    assert torch.allclose(seen[1][:, 0], torch.ones(1, 64, 64), atol=1e-6)


def test_only_the_adapters_and_the_decoder_get_gradients_and_the_rest_stays_put() -> None:
    """The IoU head is trainable but outside the loss (as the authors'), so it gets no gradient."""
    method = tiny_method()
    network = tiny_network(method)
    names = [name for name, _ in network.named_parameters()]
    trainable = {name for name, parameter in network.named_parameters() if parameter.requires_grad}
    assert trainable == {name for name in names if is_trainable(name)}
    assert all(name.startswith("mask_decoder.") or "_adapter." in name for name in trainable)
    assert any("space_adapter" in name for name in trainable) and any("mlp_adapter" in name for name in trainable)
    assert not any(name.startswith("prompt_encoder.") for name in trainable)
    assert all(name in trainable for name in names if name.startswith("mask_decoder."))

    optimizer = method.configure_optimizer([network], SETTINGS)
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(trainable)
    before = {name: parameter.detach().clone() for name, parameter in network.named_parameters()}
    batch = toy_batch()
    method.loss(method.forward_batch([network], batch, step_context(network)), batch,
                step_context(network)).loss.backward()
    with_grad = {name for name, parameter in network.named_parameters() if parameter.grad is not None}
    assert with_grad == {name for name in trainable if not name.startswith("mask_decoder.iou_prediction_head.")}
    optimizer.step()
    for name, parameter in network.named_parameters():
        assert torch.equal(parameter, before[name]) == (name not in with_grad), name


def test_the_loss_is_weighted_bce_of_z() -> None:
    method = tiny_method()
    batch = toy_batch(size=8)
    z = torch.zeros(2, 8, 8)
    loss = method.loss([torch.stack([torch.zeros_like(z), z], dim=1)], batch, step_context(torch.nn.Identity()))
    positives = batch.labels.float().mean()
    assert loss.loss.item() == pytest.approx(math.log(2) * (2 * positives + (1 - positives)).item(), rel=1e-6)
    shifted = method.loss([torch.stack([torch.ones_like(z), 1 + z], dim=1)], batch, step_context(torch.nn.Identity()))
    assert shifted.loss.item() == pytest.approx(loss.loss.item(), rel=1e-6)


def test_the_loss_falls_on_a_toy_batch() -> None:
    torch.manual_seed(0)
    method = tiny_method()
    network = tiny_network(method)
    optimizer = method.configure_optimizer([network], OptimizerSettings(lr=0.1, momentum=0.9, weight_decay=0.0,
                                                                        epochs=1))
    batch = toy_batch()
    losses = [training_step(method, [network], optimizer, batch, step_context(network, step)).loss.item()
              for step in range(20)]
    assert losses[-1] < 0.6 * losses[0] and min(losses) == losses[-1], losses


def test_clicks_land_on_the_foreground_in_the_working_frame() -> None:
    labels = torch.zeros(3, 8, 8, dtype=torch.int64)
    labels[0, 3, 5] = 1
    labels[2, 6:, :2] = 1
    points, point_labels = click_prompts(labels, 64, torch.Generator().manual_seed(0))
    assert points.shape == (3, 1, 2) and point_labels.tolist() == [[1], [-1], [1]]
    assert points[0, 0].tolist() == [40.0, 24.0]
    x, y = (points[2, 0] / 8).tolist()
    assert labels[2, int(y), int(x)] == 1


def test_click_prompts_change_the_output_and_predict_needs_test_labels() -> None:
    method = tiny_method(prompt="click")
    network = tiny_network(method)
    network.eval()
    batch = toy_batch()
    (clicked,) = method.forward_batch([network], batch, step_context(network))
    assert not torch.allclose(clicked, network(batch.images))
    with pytest.raises(InputError, match=r"^method 'msa': prompt: click needs the test labels") as error:
        method.predict([network], batch.images)
    one_line(error)
    method.set_test_labels(batch.labels)
    assert method.predict([network], batch.images).shape == (2, 32, 32)
    with pytest.raises(InputError):
        method.predict([network], batch.images)


def test_the_authors_optimizer_halves_its_rate_every_ten_epochs() -> None:
    method = tiny_method(authors_optimizer=True)
    network = tiny_network(method)
    optimizer = method.configure_optimizer([network], SETTINGS)
    assert isinstance(optimizer, torch.optim.Adam)
    rates = []
    for epoch in (0, 9, 10, 25):
        method.on_epoch_start(EpochContext(epoch=epoch, num_epochs=30, tau=0.0, networks=[network],
                                           optimizer=optimizer, training_set=None, infer_training_set=list,
                                           generator=torch.Generator()))
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([1e-4, 1e-4, 5e-5, 2.5e-5])


def write_checkpoint(path: Path, image_size: int = 128, edit=None) -> dict[str, torch.Tensor]:
    """A random tiny SAM without adapters at ``image_size``, saved in SAM's key layout."""
    torch.manual_seed(1)
    config = SamConfig(image_size=image_size, embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1,),
                       window_size=4, out_chans=32, decoder_heads=2, decoder_mlp_dim=64, iou_head_hidden_dim=32)
    model = Sam(config)
    for name, parameter in model.named_parameters():
        if "rel_pos" in name or "pos_embed" in name:
            torch.nn.init.normal_(parameter)
    state = model.state_dict()
    if edit is not None:
        edit(state)
    torch.save(state, path)
    return state


def test_a_checkpoint_at_another_size_loads_with_interpolated_positions(tmp_path: Path) -> None:
    path = tmp_path / "sam_tiny.pth"
    state = write_checkpoint(path)
    assert not any("adapter" in key for key in state)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    method = tiny_method(sam_checkpoint=str(path), sam_checkpoint_sha256=digest)
    loaded = tiny_network(method).state_dict()
    fresh = tiny_network().state_dict()
    pos = state["image_encoder.pos_embed"]
    assert pos.shape == (1, 8, 8, 64)
    expected = F.interpolate(pos.permute(0, 3, 1, 2), size=(4, 4), mode="bicubic",
                             align_corners=False).permute(0, 2, 3, 1)
    assert torch.allclose(loaded["image_encoder.pos_embed"], expected)
    table = state["image_encoder.blocks.1.attn.rel_pos_h"]
    assert table.shape == (15, 32) and loaded["image_encoder.blocks.1.attn.rel_pos_h"].shape == (7, 32)
    assert torch.allclose(loaded["image_encoder.blocks.1.attn.rel_pos_h"],
                          F.interpolate(table.t()[None], size=7, mode="linear", align_corners=False)[0].t())
    assert torch.equal(loaded["image_encoder.blocks.0.attn.rel_pos_w"], state["image_encoder.blocks.0.attn.rel_pos_w"])
    for key in ("image_encoder.blocks.0.attn.qkv.weight", "prompt_encoder.no_mask_embed.weight",
                "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", "mask_decoder.iou_token.weight"):
        assert torch.equal(loaded[key], state[key]), key
    adapter = "image_encoder.blocks.0.space_adapter.down.weight"
    assert torch.equal(loaded[adapter], fresh[adapter])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda state: state.__setitem__("image_encoder.blocks.0.attn.qkv.weight", torch.zeros(3, 3)),
     r"key image_encoder\.blocks\.0\.attn\.qkv\.weight has shape \(3, 3\), the model needs \(192, 64\)$"),
    (lambda state: state.__setitem__("image_encoder.blocks.1.attn.rel_pos_h", torch.zeros(15, 5)),
     r"key image_encoder\.blocks\.1\.attn\.rel_pos_h has shape \(15, 5\), the model needs \(7, 32\)$"),
    (lambda state: state.pop("mask_decoder.iou_token.weight"), r"missing key mask_decoder\.iou_token\.weight$"),
    (lambda state: state.__setitem__("image_encoder.extra", torch.zeros(1)), r"unexpected key image_encoder\.extra"),
])
def test_a_checkpoint_that_does_not_fit_is_refused_in_one_line(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "bad.pth"
    write_checkpoint(path, edit=edit)
    with pytest.raises(InputError, match=rf"^SAM checkpoint {path}: {message}") as error:
        tiny_network(tiny_method(sam_checkpoint=str(path)))
    one_line(error)


def test_a_wrong_hash_or_a_missing_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sam.pth"
    write_checkpoint(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(InputError, match=rf"^SAM checkpoint {path}: sha256 is {digest}, expected 0+$") as error:
        load_sam_checkpoint(MSANetwork(tiny_method().sam_config()), path, "0" * 64)
    one_line(error)
    with pytest.raises(InputError, match=rf"^SAM checkpoint file not found: {tmp_path / 'nope.pth'}$") as error:
        load_sam_checkpoint(MSANetwork(tiny_method().sam_config()), tmp_path / "nope.pth")
    one_line(error)
    with pytest.raises(InputError, match=r"^method 'msa': option 'sam_checkpoint': MSA needs the SAM ViT-B checkpoint.*"
                                         rf"file not found: {tmp_path / 'nope.pth'}$"):
        tiny_method(model_size="vit_b", sam_checkpoint=str(tmp_path / "nope.pth"))


def test_config_checks_and_the_not_run_reason(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        MSA.check_config({}, "variants.msa")
    assert one_line(error) == ("config key variants.msa.sam_checkpoint: MSA needs the SAM ViT-B checkpoint: set "
                               "sam_checkpoint to the path of sam_vit_b_01ec64.pth (not downloaded by the suite)")
    with pytest.raises(InputError, match=r"^config key v\.sam_checkpoint: MSA needs .*; file not found: /no/sam\.pth$"):
        MSA.check_config({"sam_checkpoint": "/no/sam.pth"}, "v")
    path = tmp_path / "sam.pth"
    path.write_bytes(b"")
    MSA.check_config({"sam_checkpoint": str(path)}, "v")
    MSA.check_config(dict(TINY), "v")
    with pytest.raises(InputError, match=r"^config key v\.prompt: prompt: click needs the test labels"):
        MSA.check_config({"sam_checkpoint": str(path), "prompt": "click"}, "v")
    with pytest.raises(InputError, match=r"^method 'msa': option 'sam_checkpoint': MSA needs the SAM ViT-B"):
        build_method("msa")
    assert MSA.unavailable_reason({}) == "not run: no SAM checkpoint"
    assert MSA.unavailable_reason({"sam_checkpoint": str(path)}) is None
    assert MSA.unavailable_reason(dict(TINY)) is None
    with pytest.raises(InputError, match=r"^method 'msa': option 'image_size' must be a multiple of 16; got 40$"):
        tiny_method(image_size=40)
    with pytest.raises(InputError, match=r"^method 'msa' takes grey or RGB images \(1 or 3 channels\); these have 4$"):
        tiny_network(channels=4)
