"""Every visible string of the app, one dictionary per language; `tr(key, lang, **fmt)` looks one up."""

from __future__ import annotations

EN: dict[str, str] = {
    "title": "GRU gates, live",
    "subtitle": "Train d2l's from-scratch GRU on *The Time Machine*, scrub through its reset and update gates "
                "step by step, and force them to see what they are for.",
    "status_line": "Device **{device}** · training path **{engine}** · inspecting **{model}**",
    # sidebar
    "settings": "Training settings",
    "corpus": "Corpus",
    "corpus_tm": "The Time Machine (H. G. Wells)",
    "corpus_offline": "Offline: Python documentation (ships with Python)",
    "corpus_upload": "Upload a .txt file",
    "corpus_paste": "Paste text",
    "upload_txt": "A UTF-8 text file",
    "paste_here": "Your text (English works best: the model sees only the letters a-z and spaces)",
    "hidden": "Hidden units",
    "lr": "Learning rate",
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "num_steps": "Time steps per minibatch",
    "clip": "Gradient clipping θ",
    "sampling": "Minibatch sampling",
    "sequential": "sequential (state carried)",
    "random": "random (fresh state)",
    "max_tokens": "Characters used (max tokens)",
    "seed": "Random seed",
    "device": "Device",
    "engine_choice": "Training code",
    "engine_fast": "fast path (hand-written backprop)",
    "engine_textbook": "textbook (autograd, step by step)",
    "corpus_info": "{name}: {tokens:,} characters, vocabulary of {vocab}",
    "upload_ckpt": "Inspect a checkpoint (.safetensors)",
    "ckpt_loaded": "Loaded {name}: hidden {hidden}, vocabulary {vocab}",
    # model chooser
    "inspect": "Model to inspect",
    "pretrained": "Pretrained on The Time Machine · epoch {epoch}",
    "run_latest": "Run {id} ({label}) · latest, epoch {epoch}",
    "run_epoch": "Run {id} ({label}) · epoch {epoch}",
    "uploaded": "Uploaded: {name}",
    "no_model": "No model yet: start a training run in the Train tab (a small one takes a few seconds).",
    # tabs
    "tab_scrub": "① Scrub through time",
    "tab_force": "② Force the gates",
    "tab_train": "③ Train live",
    # training
    "start": "Start",
    "pause": "Pause",
    "resume": "Resume",
    "stop": "Stop",
    "reset": "Reset",
    "quick": "Quick run (hidden 64, 30 epochs)",
    "epoch_of": "Epoch {epoch} of {epochs}",
    "perplexity": "Perplexity",
    "tokens_per_sec": "Tokens/s",
    "time_left": "Time left",
    "device_in_use": "Device",
    "continuation": "Continuation of “{prefix}” at epoch {epoch}",
    "status_queued": "Waiting for a free training slot: {n} runs are training on this server right now.",
    "status_running": "Training…",
    "status_paused": "Paused.",
    "status_stopped": "Stopped at epoch {epoch}.",
    "status_finished": "Finished: {epoch} epochs.",
    "status_diverged": "Stopped: {message}",
    "status_failed": "Stopped: {message}",
    "no_runs": "No training run yet. Pick settings in the sidebar (the defaults are d2l's) and press Start.",
    "ppl_title": "Perplexity per epoch (log scale)",
    "reference_run": "bundled model (d2l's 500-epoch run)",
    "busy": "One run at a time per visitor: pause or stop the current one first.",
    # scrubber
    "probe": "Probe text (any text; it is normalised like the corpus: letters and spaces)",
    "step": "Time step t",
    "play": "Play",
    "pause_play": "Pause",
    "first": "First",
    "prev": "Back",
    "next": "Forward",
    "last": "Last",
    "jump": "Jump to the next",
    "jump_help": "Type a character; the step moves to its next occurrence",
    "units": "Hidden units shown",
    "units_all": "all",
    "units_active": "most variable update gates (32)",
    "units_first": "first 64",
    "at_step": "Step {t}: input “{ch}”",
    "r_title": "Reset gate R<sub>t</sub> (units × time)",
    "z_title": "Update gate Z<sub>t</sub> (units × time)",
    "mix_names": "H<sub>t−1</sub>|candidate H̃<sub>t</sub>|state H<sub>t</sub>|update gate Z<sub>t</sub>",
    "next_char": "Next character",
    "unit_numbers": "Unit for the numbers",
    "keys_hint": "Keys: ← → step, Home / End jump, Space plays.",
    "unknown_chars": "{n} characters are not in this model's vocabulary and are shown as <unk>.",
    "probe_empty": "The probe text has no letters: type some English text.",
    "probe_long": "The probe is cut to its first {n} characters.",
    "forced_note": "Gates forced: {what}. The charts show the values actually used.",
    # forcing
    "preset": "Preset",
    "preset_free": "Free",
    "preset_plain_rnn": "Plain RNN (Z=0, R=1)",
    "preset_frozen_memory": "Frozen memory (Z=1)",
    "preset_amnesia": "Amnesia (R=0)",
    "preset_custom": "Custom",
    "explain_free": "The gates compute their own values: this is the trained GRU.",
    "explain_plain_rnn": "Z = 0 lets every step overwrite the state and R = 1 always reads the whole past: the "
                         "GRU becomes exactly the plain RNN H_t = tanh(X_t W_xh + H_{t−1} W_hh + b_h), with this "
                         "model's weights (it was not trained that way, so expect it to break).",
    "explain_frozen_memory": "Z = 1 copies the old state forever: H_t = H_{t−1}. Nothing new gets in, so the "
                             "prediction never changes with the input.",
    "explain_amnesia": "R = 0 makes the candidate ignore the past: H̃_t = tanh(X_t W_xh + b_h). Only the update "
                       "gate still carries memory forward.",
    "explain_custom": "Hold R and/or Z at a value of your choice, on all or some hidden units and time steps.",
    "force_r": "Force the reset gate R",
    "force_z": "Force the update gate Z",
    "value": "value",
    "force_units": "Only these units (e.g. 0-31, 100; empty = all)",
    "force_steps": "Only these time steps",
    "bad_units": "Units: {message}",
    "ppl_free": "Perplexity, free",
    "ppl_forced": "Perplexity, forced",
    "ppl_on": "on the first {n:,} characters of the corpus",
    "cont_free": "Free",
    "cont_forced": "Forced ({what})",
    "diff_note": "Characters that differ from the free continuation are highlighted.",
    "train_this_way": "Train it this way",
    "train_this_way_help": "Train a new model from scratch with these gate values held during training, with the "
                           "same settings and seed, and overlay its perplexity curve on the others.",
    "train_forced_units": "Training forces the gates on all units and steps; the unit and step limits apply to "
                          "inspection only.",
    # equations
    "equations": "The GRU, as d2l writes it",
    "numbers_at": "Unit {u} at step {t}",
    "errors_generic": "Something went wrong: {message}. The page keeps working; try again or change the input.",
}

LANGS = {"en": EN}


def tr(key: str, lang: str = "en", **fmt: object) -> str:
    """The string for `key` in `lang` (English when missing), formatted with `fmt`."""
    table = LANGS.get(lang, EN)
    text = table.get(key, EN[key])
    return text.format(**fmt) if fmt else text
