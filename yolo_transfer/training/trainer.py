"""`TransferTrainer`: Ultralytics' `DetectionTrainer` plus a freeze plan, through its override points only.

- `get_model` / `set_model_names_for_load`: keep a copy of the source tensors (for the head record and the freeze
  verification) and apply an explicit class map before Ultralytics loads the weights; keep-classes' exact method
  builds the model from the checkpoint itself and grafts the new classes' path on (`training.keep.graft`);
- `_model_train`: BatchNorm modes per the plan and `--bn-policy` (every BN kind, SyncBN included);
- `build_optimizer`: per-layer learning-rate multiples (discriminative fine-tuning);
- `optimizer_step`: keeps those multiples through bias warm-up and drops gradients of held layers under DDP;
- `resume_training`: a time-bounded run resumes where it would have been left alone (`training.timed`);
- callbacks: apply the plan's stage at each epoch start (progressive unfreezing) and record the head at setup.

The class is importable by module path and takes its plan from `$YOLO_TRANSFER_CONTEXT` when Ultralytics re-creates
it in a DDP worker (`--device 0,1`), so multi-GPU runs follow the same plan.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from typing import Any

import torch
from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import DEFAULT_CFG, LOGGER, RANK
from ultralytics.utils.torch_utils import unwrap_model

from yolo_transfer import windows
from yolo_transfer.presets import FreezePlan
from yolo_transfer.training import head as head_mod
from yolo_transfer.training import timed
from yolo_transfer.training.param_groups import describe, split_by_lr_scale, sync_bias_warmup
from yolo_transfer.training.policy import FreezePolicy, detection_model
from yolo_transfer.training.reader import reading
from yolo_transfer.training.results import read_results
from yolo_transfer.utils.env import cpu_train_threads
from yolo_transfer.utils.imageread import Window
from yolo_transfer.utils.io import atomic_write_bytes

CONTEXT_ENV = "YOLO_TRANSFER_CONTEXT"
# With ray[tune] installed, Ultralytics' Ray Tune callback asks Tune for a trial id after every epoch and warns when
# it runs outside Tune (every normal run); inside a Tune trial (compare --engine ray) it reports as it should.
warnings.filterwarnings("ignore", message=".*get_trial_id.*", category=UserWarning)


def on_pretrain_routine_end(trainer: "TransferTrainer") -> None:
    trainer.policy.apply(trainer.model, trainer.stage_for(trainer.start_epoch))
    if trainer.device.type == "cpu":  # after Ultralytics' select_device, which left a core idle (see the function)
        torch.set_num_threads(cpu_train_threads())
    if RANK in {-1, 0}:
        trainer.record_setup()


def on_train_epoch_start(trainer: "TransferTrainer") -> None:
    stage = trainer.stage_for(trainer.epoch)
    if trainer.world_size > 1 and trainer.args.time and trainer.plan.relative:
        # each rank refits the epoch count from its own clock (rank 0 also saves): one stage for all, rank 0's, or
        # a layer would train on one rank and stand still on another
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            box = [stage]
            dist.broadcast_object_list(box, 0)
            stage = box[0]
    trainer.policy.apply(trainer.model, stage)
    timed.continue_clock(trainer)
    if trainer.close_mosaic_now:  # before Ultralytics enumerates the loader, as its own close does
        trainer.close_mosaic_now = False
        trainer._close_dataloader_mosaic()
        trainer.train_loader.reset()
    if stage != trainer.current_stage:
        if RANK in {-1, 0} and trainer.current_stage is not None:
            LOGGER.info(f"yolo-transfer: epoch {trainer.epoch + 1} enters stage {stage} "
                        f"({len(trainer.plan.trainable_in(stage))} trainable layers)")
        trainer.current_stage = stage


class TransferTrainer(DetectionTrainer):
    def __init__(self, cfg=DEFAULT_CFG, overrides: dict | None = None, _callbacks=None,
                 context: dict[str, Any] | None = None):
        if context is None:  # a DDP worker: the parent put the context in the environment
            raw = os.environ.get(CONTEXT_ENV)
            if not raw:
                raise RuntimeError(f"TransferTrainer needs a context (or ${CONTEXT_ENV}) with the freeze plan")
            context = json.loads(raw)
        self.context = context
        self.plan = FreezePlan.from_dict(context["plan"])
        super().__init__(cfg, overrides, _callbacks)
        self.window = Window.from_dict(context.get("window"))  # images above 8 bits: the run's intensity window
        self.keep = context.get("keep")  # keep-classes: KeepPlan.to_dict() + the held parameter prefixes
        self.held = tuple((self.keep or {}).get("held", ()))
        self.policy = FreezePolicy(self.plan, context.get("bn_policy", "frozen"), ddp=self.world_size > 1,
                                   held=self.held)
        self.current_stage: int | None = None  # the stage the epoch in progress trains in (`stage_for`)
        self.source_sd: dict[str, torch.Tensor] | None = None
        self.source_names: dict[int, str] | None = None
        self.setup_record: dict[str, Any] = {}
        self.time_spent: float | None = None  # a resumed time-bounded run: loop seconds of the earlier sessions
        self.close_mosaic_now = False  # ... that had closed mosaic augmentation (Ultralytics' resume reopens it)
        self.stage_floor = 0  # ... the stage its earlier sessions reached (a time-bounded run's stages move)
        self.add_callback("on_pretrain_routine_end", on_pretrain_routine_end)
        self.add_callback("on_train_epoch_start", on_train_epoch_start)
        if self.world_size > 1:
            os.environ[CONTEXT_ENV] = json.dumps(context)  # inherited by the DDP workers Ultralytics spawns

    # --- model and head ------------------------------------------------------------------------------------------
    def get_model(self, cfg=None, weights=None, verbose=True):
        if weights is not None:
            # keep the source tensors as loaded (before Ultralytics' in-place remap) for the head record
            src = weights.get("ema") or weights.get("model") if isinstance(weights, dict) else weights
            self.source_sd = {k: v.detach().clone().cpu() for k, v in src.state_dict().items()}
            self.source_names = dict(getattr(src, "names", {}) or {})
            if self.keep and self.keep["method"] == "exact":
                return self._keep_exact_model(src)
        model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
        windows.stamp(model, self.window)  # before the EMA copy: every checkpoint of the run carries it
        return model

    def train(self):
        """Ultralytics' training with its datasets reading through the project's reader and the run's window."""
        with reading(self.window):
            return super().train()

    def _keep_exact_model(self, src):
        """The checkpoint's own model, every weight and statistic as it was, with the new classes' path grafted on
        (`training.keep.graft`: copies of the layers the preset trains, new box and class branches; a resumed run's
        checkpoint has them already)."""
        import copy

        from yolo_transfer.training.keep import graft, is_kept

        model = copy.deepcopy(src).float()
        head = model.model[-1]
        if not is_kept(model):  # a resumed run's last.pt is kept already; a fresh run's source never is (api refuses)
            graft(model, len(self.keep["names"]) - len(self.keep["source_names"]), self.keep.get("branch_from"))
        model.names = dict(enumerate(self.keep["names"]))
        model.nc = head.nc
        model.yaml["nc"] = head.nc
        for p in model.parameters():
            p.requires_grad_(True)  # as Ultralytics builds a model; the freeze policy decides from here
        windows.stamp(model, self.window)
        return model

    def set_model_names_for_load(self, model):
        model = super().set_model_names_for_load(model)
        class_map = self.context.get("class_map") or {}
        if class_map and self.data.get("names"):
            model.names = head_mod.names_for_load(self.data["names"], class_map)
        return model

    def record_setup(self) -> None:
        model = detection_model(unwrap_model(self.model))
        mapping = head_mod.class_mapping(self.data["names"], self.source_names, self.context.get("class_map") or {})
        self.setup_record = {
            "head": head_mod.head_record(model, self.source_sd, len(model.model) - 1, mapping)
            if self.source_sd is not None else {"counts": {}, "tensors": {}, "note": "trained from the YAML"},
            "class_mapping": mapping,
            "source_names": self.source_names,
            "param_groups": describe(self.optimizer),
            "freeze_mode": "drop-grad (DDP)" if self.policy.ddp else "requires_grad",
            "cpu_threads": torch.get_num_threads() if self.device.type == "cpu" else None,
        }
        self._save_reference(model)

    def _save_reference(self, model) -> None:
        """Snapshot never-trained tensors the source checkpoint cannot vouch for (all of them, when from a YAML)."""
        from yolo_transfer.verify import REFERENCE_FILE, frozen_keys

        sd, src = model.state_dict(), self.source_sd or {}
        keys = frozen_keys(sd, self.plan, self.context.get("bn_policy", "frozen"), self.held)
        missing = {k: sd[k].detach().cpu().clone() for k in keys if k not in src or src[k].shape != sd[k].shape}
        if missing:  # whole or not at all: verification reads it at the end, perhaps after a resume
            buf = io.BytesIO()
            torch.save(missing, buf)
            atomic_write_bytes(self.wdir / REFERENCE_FILE, buf.getvalue())

    # --- override points -----------------------------------------------------------------------------------------
    def _model_train(self):
        self.model.train()
        stage = self.current_stage if self.current_stage is not None else self.stage_for(self.start_epoch)
        self.policy.set_bn_modes(self.model, stage)

    def stage_for(self, epoch: int) -> int:
        """The plan's stage at `epoch`. In time mode a stage given as a share of the run ("60%", progressive's
        thirds) is placed in the epoch count Ultralytics refits after every epoch, not in its first guess (which
        thawed too early: docs/evidence/strategy.md). Never back to an earlier stage (a refit can grow the count
        again), resumed runs included."""
        n = self.epochs if self.args.time and self.plan.relative else None
        return max(self.plan.stage_at(epoch, n), self.current_stage or 0, self.stage_floor)

    def build_optimizer(self, model, name="auto", lr=0.001, momentum=0.9, decay=1e-5, iterations=1e5):
        nc = self.data.get("nc")
        if name == "auto" and self.keep:
            # Ultralytics' `auto` fits lr0 to the class count; a keep-classes run learns the dataset's classes, not
            # the combined table's 80 + k, whose lr starved them (docs/evidence/keep.md)
            self.data["nc"] = len(self.keep["data_names"])
        try:
            optimizer = super().build_optimizer(model, name, lr, momentum, decay, iterations)
        finally:
            self.data["nc"] = nc
        return split_by_lr_scale(optimizer, model, self.plan.lr_scale)

    def resume_training(self, ckpt):
        done = ckpt["epoch"] + 1 if self.resume and ckpt is not None and ckpt.get("epoch", -1) >= 0 else 0
        if done:  # the stages the earlier sessions ran
            self.stage_floor = max((s for e, s in self.context.get("stages_run") or [] if e <= done), default=0)
        # time mode: the checkpoint's epoch count predates its last refit; refit it from the sessions so far (and
        # rebuild the schedule with it) before Ultralytics checks there is something left to resume
        rows = timed.rows_before(read_results(self.save_dir), done) if done and self.args.time else []
        spent = timed.loop_seconds(rows)
        if spent > 0:
            before = ckpt.get("train_args") or {}  # the earlier sessions ran with these, even if changed now
            counts = timed.epoch_counts(before.get("time") or self.args.time, self.context.get("epochs_requested"),
                                        timed.cumulative_seconds(rows))
            self.close_mosaic_now = timed.mosaic_closed_before(
                counts, before.get("close_mosaic", self.args.close_mosaic))
            if self.plan.relative:  # replayed too, for a session killed before its record had its rows (the replay
                # reads csv times taken before the save, so it can only place a stage late, never early)
                self.stage_floor = max([self.stage_floor] + [self.plan.stage_at(e, n) for e, n in enumerate(counts)
                                                             if n is not None])
            self.epochs = self.args.epochs = timed.refit_epochs(self.args.time, done, spent)
            self._setup_scheduler()
            self.time_spent = spent
        super().resume_training(ckpt)

    def optimizer_step(self):
        self.policy.drop_frozen_grads()
        sync_bias_warmup(self.optimizer, self.args.warmup_bias_lr, float(self.lf(self.epoch)))
        super().optimizer_step()
