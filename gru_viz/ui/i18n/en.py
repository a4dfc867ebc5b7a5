"""Every visible string of the app in English; keys are shared with zh.py (tests check keys and placeholders)."""

EN: dict[str, str] = {
    "title": "GRU gates, live",
    "title_short": "GRU gates, live",
    "subtitle": "Train d2l's from-scratch GRU on *The Time Machine*, scrub through its reset and update gates "
                "step by step, and force them to see what they are for.",
    # sidebar
    "settings": "Training settings",
    "settings_short": "Settings",
    "corpus": "Corpus",
    "corpus_tm": "The Time Machine (H. G. Wells)",
    "corpus_offline": "Offline: Python documentation (ships with Python)",
    "corpus_upload": "Upload a .txt file",
    "corpus_paste": "Paste text",
    "upload_txt": "A UTF-8 text file",
    "upload_txt_help": "At most {mb} MB of text. Each visitor holds one text and one checkpoint upload at a time (a "
                       "newer upload replaces an older one); when the server holds as many uploads as it can, an "
                       "upload is refused: try again in a few minutes.",
    "pasted_text": "pasted text",
    "too_large": "{name}: larger than {mb} MB",
    "tm_unavailable": "The Time Machine is not available here (no internet, and no copy cached): choose the "
                      "offline corpus or your own text.",
    "offline_tm": "No internet here, so The Time Machine cannot be downloaded. Everything else works offline: the "
                  "bundled models, the offline corpus (Python's documentation), your own text, and on the server "
                  "`python -m gru_viz fetch --from FILE` to add a copy of the book.",
    "offline_use": "Use the offline corpus",
    "offline_note": "Offline: The Time Machine cannot be downloaded here, so the offline corpus is the default. "
                    "The bundled models and your own text work as usual.",
    "paste_here": "Your text (English works best: the model sees only the letters a-z and spaces)",
    "paste_here_raw": "Your text, any language or script: every character is kept (case, digits, punctuation, "
                      "line breaks)",
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
    "device_auto": "auto",
    "device": "Device",
    "engine_choice": "Training code",
    "engine_fast": "fast path (hand-written backprop, {loops})",
    "loops_cpp": "compiled C++",
    "loops_torch_fm": "PyTorch, feature-major",
    "loops_torch_rows": "PyTorch, row-major",
    "loops_textbook": "textbook autograd",
    "loops_measured": "Chosen by timing a few training steps of each set of loops on this server at these sizes "
                      "(milliseconds a step: {timings}); another set replaces the current one only when at least "
                      "5% faster. All give the same results.",
    "loops_default": "Not timed yet on this server at these sizes: the default order is used until the first run "
                     "times a few steps of each. All give the same results.",
    "loops_forced": "Set by the server's settings (GRU_VIZ_FAST_BACKEND). All give the same results.",
    "loops_only": "The only set of loops that runs these sizes here.",
    "build_built": "The C++ kernel is built.",
    "build_building": "The C++ kernel is being compiled in the background; a run keeps the loops it started with.",
    "build_failed": "Compiling the C++ kernel failed ({detail}); it is not tried again for this version.",
    "build_disabled": "This server does not compile the C++ kernel.",
    "build_no_compiler": "This server has no C++ compiler for the kernel.",
    "build_no_memory": "This server's memory is too small to compile the C++ kernel safely beside the app.",
    "build_not_built": "The C++ kernel is not built (python -m gru_viz build-ext).",
    "engine_textbook": "textbook (autograd, step by step)",
    "corpus_info": "{name}: {tokens:,} characters, vocabulary of {vocab}",
    "tokens": "Characters kept",
    "tokens_d2l": "d2l: letters a-z and spaces",
    "tokens_raw": "raw: every character",
    "tokens_help": "d2l's preprocessing lowercases the text and keeps only a-z and the space. Raw keeps every "
                   "character: capitals, digits, punctuation, line breaks, tabs, Chinese…",
    "max_vocab": "Vocabulary size (with `<unk>`)",
    "max_vocab_help": "By default every character is kept when the text has at most 300 distinct ones (letters, "
                      "digits, punctuation of any alphabet); larger alphabets such as Chinese keep the most frequent "
                      "characters covering 99.5 % of the text, the rest read as `<unk>`. At most 4,000.",
    "corpus_coverage": "The vocabulary covers {cov:.2%} of the text's characters.",
    "upload_ckpt": "Inspect a checkpoint (.safetensors)",
    "upload_ckpt_help": "A checkpoint from this app, or a model you trained in d2l's notebook (either edition: "
                        "the scratch GRU's eleven tensors or the concise nn.GRU's state_dict) saved with "
                        "safetensors' save_file. A file saved with torch.save is converted on your own machine "
                        "with `python -m gru_viz import FILE` (the app never unpickles). See the README's "
                        "section \"From your d2l notebook\". At most {mb} MB. Each visitor holds one checkpoint and "
                        "one text upload at a time (a newer upload replaces an older one); when the server holds as "
                        "many uploads as it can, an upload is refused: try again in a few minutes.",
    "convention_d2l": "Convention: d2l's scratch GRU, `H̃ = tanh(X W_xh + (R ⊙ H) W_hh + b_h)`: the reset gate "
                      "acts before the recurrent product.",
    "convention_torch": "Convention: PyTorch's nn.GRU, `H̃ = tanh(X W_in + b_in + R ⊙ (H W_hn + b_hn))`: the reset "
                        "gate acts after the recurrent product, with `b_hn` inside it. The update gate and "
                        "`H = Z ⊙ H + (1 − Z) ⊙ H̃` are as in d2l.",
    "nb_assumed": "A d2l notebook's file ({layout}). Vocabulary assumed: {edition} ({how}; an English test "
                  "passage reads with perplexity {seed:.1f} in the seed's order, {d2l10:.1f} in d2l 1.0's).",
    "nb_order_unknown": "{name}: which edition's vocabulary order this model uses cannot be told: an English test "
                        "passage reads with perplexity {seed:.1f} in the seed's order and {d2l10:.1f} in d2l 1.0's "
                        "(one must be {factor:g}× better; an untrained model reads both alike). Choose the edition "
                        "below, or save the vocabulary in the file: `save_file(tensors, \"gru.safetensors\", "
                        "metadata={{\"vocab\": json.dumps(vocab.idx_to_token)}})`.",
    "nb_recognised": "recognised",
    "nb_chosen": "your choice",
    "nb_vocab_meta": "A d2l notebook's file ({layout}) with its vocabulary in the metadata.",
    "nb_switch": "Vocabulary order",
    "edition_seed": "seed edition (zh.d2l.ai: by frequency, `<unk>` first)",
    "edition_d2l-1.0": "d2l 1.0 (d2l.ai: alphabetical)",
    "layout_seed_scratch": "seed scratch, get_params' names",
    "layout_seed_params": "seed scratch, the params list",
    "layout_d2l10_scratch": "d2l 1.0 scratch, GRUScratch",
    "layout_seed_concise": "seed concise, nn.GRU",
    "layout_d2l10_concise": "d2l 1.0 concise, nn.GRU",
    "layout_torch": "nn.GRU and nn.Linear",
    "ckpt_loaded": "Loaded {name}: hidden {hidden}, vocabulary {vocab}",
    # model chooser
    "inspect": "Model to inspect",
    "pretrained": "Pretrained on The Time Machine · epoch {epoch}",
    "pretrained_raw": "Every character kept, on the Python documentation · epoch {epoch}",
    "run_latest": "Run {n} ({label}) · latest, epoch {epoch}",
    "run_status": "Run {n} ({label})",
    "run_epoch": "Run {n} ({label}) · epoch {epoch}",
    "pretrained_short": "The Time Machine · epoch {epoch}",
    "pretrained_raw_short": "Python docs (raw) · epoch {epoch}",
    "run_latest_short": "Run {n} · latest, epoch {epoch}",
    "run_epoch_short": "Run {n} · epoch {epoch}",
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
    "variant_gru": "GRU",
    "variant_plain_rnn": "plain RNN (Z=0, R=1)",
    "variant_reset_only": "reset gate only (Z=0)",
    "variant_update_only": "update gate only (R=1)",
    "race_rates": "Tokens/s per model: {rates}",
    "time_left": "Time left",
    "device_in_use": "Device",
    "continuation": "Continuation of “{prefix}” at epoch {epoch}",
    "continuation_common": "At epoch {epoch} the model writes “{ch}” at every step: the most common character of "
                           "its training text, the first thing a language model learns. A model this early often "
                           "does this; more epochs usually teach it letters and words.",
    "continuation_repeats": "At epoch {epoch} the model writes “{ch}” at every step: it does not use its input "
                            "yet. A model this early often does this; more epochs usually teach it more.",
    "status_queued": "Waiting for a free training slot: number {pos} in the queue; {n} runs are training on this "
                     "server right now (at most {max} at once, so that every visitor gets a turn).",
    "budget_slots": "On this server at most {max} runs train at once; a visitor's first run goes before anyone's "
                    "second.",
    "budget_minutes": "A run trains at most {minutes} minutes per start, then stops; Resume queues it again, "
                      "behind other visitors' first runs.",
    "budget_memory": "The runs training share {mb} MB: a run that does not fit yet lets smaller ones pass.",
    "run_dropped_kept_visitor": "Run {n}'s models were freed: your ended runs (and your own text) kept more memory "
                                "than one visitor may keep on this server, and this was your oldest. Its curve "
                                "stays; train it again to inspect it.",
    "run_dropped_kept_server": "Run {n}'s models were freed: the server needed the memory for new runs, and this was "
                               "one of the oldest kept. Its curve stays; train it again to inspect it.",
    "run_dropped_session_ended": "Run {n}'s models were freed when its page closed.",
    "own_text_dropped_kept_visitor": "Your text was freed from the server's memory (it held {mb} MB): your ended runs "
                                     "and your text kept more than one visitor may keep on this server, and it was "
                                     "the oldest. Paste or upload it again to train on it.",
    "own_text_dropped_kept_server": "Your text was freed from the server's memory (it held {mb} MB): the server needed "
                                    "the memory for new runs, and it was one of the oldest things kept. Paste or "
                                    "upload it again to train on it.",
    "own_text_dropped_session_ended": "Your text was freed when the page closed.",
    "own_text_upload_again": "Remove the file and upload it again.",
    "upload_dropped_kept_visitor": "Your uploaded model was freed from the server's memory (it held {mb} MB): what you "
                                   "keep here (ended runs, your text, this model) was more than one visitor may keep "
                                   "on this server, and it was the oldest. Remove the file and upload it again to "
                                   "inspect it.",
    "upload_dropped_kept_server": "Your uploaded model was freed from the server's memory (it held {mb} MB): the "
                                  "server needed the memory for new runs, and it was one of the oldest things kept. "
                                  "Remove the file and upload it again to inspect it.",
    "upload_dropped_session_ended": "Your uploaded model was freed when the page closed. Remove the file and upload "
                                    "it again to inspect it.",
    "results_dropped_kept_visitor": "Results about your own models (traces, the scrubber's data: {mb} MB) were freed "
                                    "to stay within what one visitor may keep on this server; they are computed "
                                    "again as needed.",
    "results_dropped_kept_server": "Results about your own models ({mb} MB) were freed: the server needed the memory "
                                   "for new runs. They are computed again as needed.",
    "status_running": "Training…",
    "status_paused": "Paused.",
    "status_stopped": "Stopped at epoch {epoch}.",
    "status_finished": "Finished: {epoch} epochs.",
    "status_diverged": "Stopped: {message}",
    "status_failed": "Stopped: {message}",
    "no_runs": "No training run yet. Pick settings in the sidebar (the defaults are d2l's) and press Start.",
    "no_runs_proj": "No training run yet. Pick settings under the Settings button at the top (the defaults are "
                    "d2l's) and press Start.",
    "ppl_title": "Perplexity per epoch (log scale)",
    "reference_left_out": "The bundled model's curve (d2l's run on The Time Machine, letters and spaces) is left "
                          "out: a run here was trained on other text, where its perplexity would compare nothing. "
                          "{runs}.",
    "run_trained_on": "Run {n}: {corpus} · {tokens}",
    "reference_run": "bundled model (d2l's 500-epoch run)",
    "busy": "One run at a time per visitor: pause or stop the current one first.",
    "too_big": "This run would need about {need:,} MB of memory while it trains; this server can give a run at "
               "most {have:,} MB, so that the others' runs and pages keep working. This would fit: {fits}.",
    "busy_elsewhere": "You already have a run training in another tab of this browser: one run at a time per "
                      "visitor, so that everyone gets a turn. Stop it there first.",
    # scrubber
    "probe_settings": "Probe text and units shown",
    "probe": "Probe text (any text; it is normalised like the corpus: letters and spaces)",
    "probe_raw": "Probe text (any text; this model keeps every character it knows, the others read as �)",
    "step": "Time step t",
    "play": "Play",
    "pause_play": "Pause",
    "first": "First",
    "prev": "Back",
    "next": "Forward",
    "last": "Last",
    "jump": "Jump to the next",
    "jump_placeholder": "a character, e.g. t",
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
    "hover_help": "Hover a cell of the heatmaps to follow its unit everywhere, or a character of the text to see "
                  "that step; click a cell to select its unit and step. Keys: ← → step, Home / End, Space plays.",
    "loading_unit": "Unit {u} is not among the rows shown: fetching its row …",
    "charts_failed": "The charts could not be drawn: plotly.js did not load.",
    "ax_step": "step",
    "dl_html": "Download this view (HTML)",
    "dl_html_help": "One file that scrubs on its own: open it from disk, no server and no network needed.",
    "html_subtitle": "Gates: {what}. Keys: ← → step, Home / End, Space plays; hover a cell to follow its unit.",
    "unknown_chars": "{n} characters are not in this model's vocabulary and are shown as <unk>.",
    "probe_empty": "The probe text has no letters: type some English text.",
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
    "ppl_free": "Perplexity, free",
    "ppl_forced": "Perplexity, forced",
    "ppl_on_text": "on the text above, {n:,} characters",
    "ppl_text_title": "The text measured ({n:,} characters)",
    "ppl_text_note": "Both perplexities are measured on this text, and both continuations start from its first "
                     "words. By default it is text of the kind the model was trained on; edit it to score "
                     "another (the same text as ①'s probe).",
    "cont_from": "Both continuations start from “{prefix}”.",
    "cont_free": "Free",
    "cont_forced": "Forced ({what})",
    "diff_note": "Characters that differ from the free continuation are highlighted.",
    "train_this_way": "Train it this way",
    "train_this_way_settings": "It trains with the sidebar's settings: {hidden} hidden units, {epochs} epochs, "
                               "learning rate {lr:g}, {engine}. Change them there first for a quicker run; the "
                               "page then opens ③ Train live, where the curve grows.",
    "train_this_way_settings_proj": "It trains with the settings under the Settings button at the top: {hidden} "
                                    "hidden units, {epochs} epochs, learning rate {lr:g}, {engine}. Change them there "
                                    "first for a quicker run; the page then opens ③ Train live, where the curve grows.",
    "engine_short_fast": "fast code",
    "engine_short_textbook": "textbook code",
    "bad_forcing": "This forcing cannot be applied: {message}",
    "forcing_free": "free",
    "forcing_units": " on {n} units",
    "forcing_steps": " for steps {a}-{b}",
    "forcing_strength": "strength {s}",
    "live_probe": "Probe: the text traced and measured here (edit it: everything below follows as you type)",
    "live_value_r": "R (reset gate)",
    "live_value_z": "Z (update gate)",
    "live_strength": "Strength: free (0) → forced (1)",
    "live_ppl_on_probe": "on the text above, {n} characters, computed in your browser",
    "live_cont_forced": "Forced",
    "live_curve_title": "Degradation: perplexity of the probe as the forcing's strength grows",
    "live_curve_x": "strength (0 = free, 1 = forced)",
    "live_curve_y": "perplexity (log scale)",
    "live_curve_name": "perplexity at each strength",
    "live_curve_now": "current setting",
    "live_only_spaces": "(only spaces after the prefix: {n} of them; the forced model predicts a space at every step)",
    "live_free_word": "free",
    "live_locked": "A class question is open: the forced results appear when the teacher reveals the answer.",
    "live_locked_teacher": "A class question is open: the forced results appear here, and on every student's "
                           "page, when you reveal the answer above.",
    "live_server_only": "This model runs on the server only ({reason}): the controls apply after each change.",
    "status_stopped_why": "Stopped at epoch {epoch}: {reason}",
    "train_this_way_help": "Train a new model from scratch with these gate values held during training, with the "
                           "same settings and seed, and overlay its perplexity curve on the others.",
    # equations
    "equations": "The GRU, as d2l writes it",
    "numbers_at": "Unit {u} at step {t}",
    "errors_generic": "Something went wrong: {message}. The page keeps working; try again or change the input.",
    # presentation, sharing, exports
    "projector": "Projector mode",
    "projector_help": "Large type, larger charts, high contrast, the charts on the first screen; the sidebar's "
                      "settings move under a Settings button at the top.",
    "shortcuts_bar": "Keys: ← → step · Home / End first / last · Space play / pause",
    # the GRU cell and which characters mattered (scrubber)
    "cell_title": "The GRU cell, unit {u} at step {t} (click for the equation)",
    "cell_reset": "reset gate<br>R<sub>t</sub> = σ(…)",
    "cell_update": "update gate<br>Z<sub>t</sub> = σ(…)",
    "cell_cand": "candidate<br>H̃<sub>t</sub> = tanh(…)",
    "cell_output": "to the output layer",
    "cell_forced": "forced",
    "att_title": "Which characters mattered for predicting “{next}” after step {t}",
    "att_shown": "this model",
    "att_forced": "forced",
    "att_free": "free model",
    "att_help": "Bar under each character: ‖∂ log p(top prediction) / ∂ input‖, on a log scale (each row up to "
                "its largest, {decades} decades); the text is coloured by the same value.",
    "att_largest": "largest {v}",
    "att_scale": "Bar height on a log scale: full = the row's largest, empty = 1/{ratio} of it.",
    "att_stale": "Stale: these bars belong to an earlier setting or text, not to the one drawn above. They are "
                 "recomputed once the controls rest (a downloaded page keeps only those of the setting it was "
                 "saved with).",
    "cell_strength": "at strength {s}",
    "client_version": "This page's code (version {js}) does not match the server's data (version {py}): "
                      "reload the page.",
    "share": "Share this view",
    "share_help": "This link reopens the same model, forcing, step and unit: copy it with the button on the right.",
    "exports": "Downloads",
    "dl_ckpt": "Checkpoint (.safetensors)",
    "dl_nb_seed": "For a seed-edition notebook (zh.d2l.ai)",
    "dl_nb_d2l-1.0": "For a d2l 1.0 notebook (d2l.ai)",
    "dl_nb_help": "The model under that edition's names and in its vocabulary's order, the vocabulary in the "
                  "metadata. d2l 1.0: model.load_state_dict(safetensors.torch.load_file(FILE)); the lines for "
                  "each edition are in the README's section \"From your d2l notebook\".",
    "dl_csv": "Trace (CSV)",
    "dl_npz": "Trace (NPZ)",
    "bad_query": "The link's setting “{name}” was not understood and was ignored.",
    "ax_unit": "unit",
    "ax_gate": "gate",
    "ax_value": "value",
    "ax_hidden_unit": "hidden unit",
    "ax_probability": "probability",
    "ax_epoch": "epoch",
    "ax_perplexity": "perplexity",
    # tab ④
    "tab_gates": "④ Why gates matter",
    "g_grad_title": "Gradient flow through time",
    "g_grad_help": "How strongly the loss of predicting the character after step t reacts to the hidden state H_t′ of "
                   "each earlier step t′ (log scale), for the GRU, for the same GRU weights with the gates removed "
                   "(R = 1, Z = 0), and for a plain RNN trained with d2l's recipe (the previous chapter's "
                   "rnn_scratch); with a forcing set in ②, a fourth curve shows it. "
                   "At initialisation every curve vanishes within 60 steps, the GRU's least: about "
                   "10⁻¹⁷ of the signal is left, against 10⁻³⁹ for the plain RNN. The gated GRU stays ahead at epoch "
                   "20, but by epoch 100 the trained plain RNN passes far more gradient back (10⁻⁶ against 10⁻¹⁵). "
                   "After 500 epochs neither vanishes nor explodes on the book; how much each shrinks depends on "
                   "the text and the step: the line under the chart gives this text's numbers, read off the curves "
                   "drawn. Only the GRU's "
                   "own weights with the gates removed explode (typically hundreds of times): they were learned "
                   "together with the gates. d2l trains through 35 steps at a time, so nothing rewards either model "
                   "for reaching 60 steps back.",
    "g_target": "Target step t",
    "g_free": "GRU (free)",
    "g_rnn": "GRU weights, gates removed (Z=0, R=1)",
    "g_rnn_trained": "plain RNN trained with d2l's recipe (epoch {epoch})",
    "g_grad_line": "On this text, from t′ = {t} back to t′ = 0 (the curves' two ends), the GRU's gradient {gru}; "
                   "with its gates removed it {forced}.",
    "g_grad_line_rnn": "In the plain RNN trained for {rnn_epoch} epochs it {rnn}.",
    "g_shrinks": "shrinks {x:,.3g}×",
    "g_grows": "grows {x:,.3g}×",
    "g_surv_median": "median unit",
    "g_surv_help": "∏Z: the share of H_t′ that reaches H_t through the update gate's copy path alone (log scale; "
                   "line: the median unit; dotted: the mean over units, pulled up by the few best units; band: "
                   "10-90 % of units). A plain RNN has no such path (Z = 0). At initialisation every update gate "
                   "is about 0.5, so each step halves what is kept: about 0.001 after 10 steps. Training on this "
                   "text closes the gates further instead of opening them: at epoch 500 the typical unit keeps less "
                   "than a millionth after 10 steps, the best unit about 6 %, and after 30 steps no unit keeps more "
                   "than 0.03 % (on this probe). Here the GRU does not carry characters forward by copying; force "
                   "Z = 1 (Frozen memory) to see what an open copy path does.",
    "g_current": "your forcing ({what})",
    "g_grad_chart": "‖∂ℓ_t/∂H_t′‖ for t = {t} (log scale)",
    "g_surv_band": "10-90 % of units",
    "g_surv_mean": "mean over units",
    "g_surv_chart": "How much of H<sub>t′</sub> survives in H<sub>{t}</sub> through Z (log scale)",
    "g_influence": "The probe coloured by the free GRU's gradient norm (brighter = more influence on step t):",
    "g_units_title": "Unit explorer",
    "g_units_help": "Units ranked by how well they track simple character features; pick one and read the text "
                    "in its colours.",
    "g_quantity": "Colour by",
    "g_features": "space|vowel|first letter of a word|last letter of a word|position in the word",
    "g_features_raw": "inside double quotes|inside single quotes|bracket depth|position in the line|"
                      "indentation|capital letter|digit|punctuation|end of a sentence|Chinese punctuation|"
                      "position in the sentence",
    "g_rank_label": "unit {u}: {feature} (r = {r:+.2f})",
    "g_unit": "Hidden unit",
    "g_scale_state": "Colours from −1 (dark red) through 0 (white) to +1 (dark blue).",
    "g_scale_gate": "Colours from 0 (dark blue) to 1 (yellow).",
    "g_race_title": "A race: GRU against its crippled versions",
    "g_race_help": "Four models from the same initial weights on the same minibatches: the GRU, a plain RNN "
                   "(Z=0, R=1), a reset-gate-only variant (Z=0) and an update-gate-only variant (R=1). The "
                   "curves grow together in ③ Train live.",
    "g_race_start": "Start the race",
    "g_race_label": "race",
    "g_race_started": "The race is on: watch the curves in ③ Train live.",
    "g_conv_title": "Conventions",
    "g_conv": "Write the GRU as",
    "g_conv_d2l": "d2l (this app)",
    "g_conv_colah": "colah's blog",
    "g_conv_pytorch": "PyTorch nn.GRU",
    "g_conv_note_d2l": "Z_t close to 1 keeps the old state. This is the cell the app computes.",
    "g_conv_note_colah": "The roles of Z and 1 − Z are swapped: here Z_t close to 1 takes the new candidate. The "
                         "same model, with z read as 1 − z.",
    "g_conv_note_pytorch": "The reset gate multiplies W_hn h + b_hn after the matrix product and there are two "
                           "biases: not the same function as d2l's cell. gru_viz.explain.analysis.TorchConventionGRU "
                           "reproduces nn.GRU exactly (tested).",
    "g_lesson_title": "Lesson: the chapter's exercises",
    "g_predict": "Your prediction first (nobody sees it but you)",
    "g_setup": "Set up the app for this",
    "g_reveal": "Reveal",
    "l1_q": "1. Which gate values make the output at step t depend only on the input at an earlier step t′?",
    "l1_where": "Z is now held at 1 from step 21 on (② Force the gates): look at the gradient flow above for "
                "t = 60. The curve is flat from 60 back to 20: nothing in between reaches the loss.",
    "l1_a": "At t′: R = 0 and Z = 0, so H_t′ = H̃_t′ depends on X_t′ only. After t′: Z = 1, so H is copied "
            "unchanged to step t. The gradient then flows back to t′ without decay and stops there.",
    "l2_q": "2. Train a GRU and a plain RNN the same way. Which reaches the lower perplexity, and which is faster "
            "per epoch?",
    "l2_where": "Start the race above and compare the curves and tokens/s in ③ Train live.",
    "l2_speed_none": "Speed: start the race above to measure it here. In d2l's textbook code the GRU does about "
                     "three recurrent matrix products per step instead of one, so it is slower per epoch; fused or "
                     "memory-bound loops can hide the difference.",
    "l2_speed_same": "Speed, in your race: GRU {gru:,.0f} tokens/s, plain RNN {rnn:,.0f}: about the same (within "
                     "{band:.0f} %, the epochs' own spread).",
    "l2_speed_gru_faster": "Speed, in your race: GRU {gru:,.0f} tokens/s, plain RNN {rnn:,.0f}: the GRU was faster "
                           "(beyond the {band:.0f} % noise band).",
    "l2_speed_rnn_faster": "Speed, in your race: GRU {gru:,.0f} tokens/s, plain RNN {rnn:,.0f}: the plain RNN was "
                           "faster (beyond the {band:.0f} % noise band).",
    "l2_a": "Perplexity: with d2l's recipe (500 epochs) the GRU reaches perplexity 1.05 and the plain RNN 1.18, "
            "whose curve swings "
            "between 1.02 and 1.19; in a short race either may lead. On this book, read 35 characters at a time, "
            "gating helps early in training: at initialisation the GRU passes about 10²² times more gradient over "
            "60 steps than a plain RNN, at epoch 20 about a million times more. Later it does not: by epoch 100 the "
            "trained plain RNN passes more gradient back, and after 500 epochs both pass a usable signal. The update "
            "gate's copy path, the textbook reason for GRUs, stays almost closed on this text: a short corpus "
            "learned by heart needs little long memory.",
    "l3_q": "3. What happens with fewer hidden units, e.g. 32 instead of 256?",
    "l3_where": "The sidebar now says 32 hidden units: press Start in ③ Train live and compare with the bundled "
                "model's curve.",
    "l3_where_proj": "The settings (the Settings button at the top) now say 32 hidden units: press Start in ③ Train "
                     "live and compare with the bundled model's curve.",
    "l3_a": "Training is faster but the perplexity stays higher: 32 units cannot memorise as much of the text.",
    "l4_q": "4. A GRU with only a reset gate, or only an update gate: which gate matters more here?",
    "l4_where": "The race trains both variants beside the GRU: start it above.",
    "l4_a": "Read it off the race's curves rather than from a rule: on this corpus the variants stay close for many "
            "epochs. What differs for sure is the mechanism: only the update gate gives a copy path (Z near 1) "
            "along which information and gradients survive many steps; the reset gate lets the candidate ignore "
            "the past when it no longer matters.",
    # class mode
    "class_title": "Class mode: predict together",
    "class_teacher_label": "Class {code} · you teach",
    "class_student_label": "Class {code} · you are in it",
    "class_join": "Join a class: type its code",
    "class_join_help": "The code is on the teacher's screen, six letters and digits like ACD346 (or scan the QR "
                       "code).",
    "class_start": "Start a class (teacher)",
    "class_start_help": "You get a code and a QR code to show. Students' predictions in ④'s exercises and before "
                        "each forcing preset in ② appear on your screen as a live tally; you reveal the answers. "
                        "No accounts; a class ends when you end it, after a day, or after 15 minutes with no "
                        "page of it open.",
    "class_code": "Class code",
    "class_scan": "Scan the QR code, open the link, or type the code under “Class mode”.",
    "class_voters": "Students who have answered so far: {n}.",
    "class_reload": "Reloading this page keeps you the teacher, in this browser only.",
    "class_end": "End the class",
    "class_leave": "Leave the class",
    "class_student_info": "You are in class **{code}**: your answers to ④'s exercises and your prediction before "
                          "each forcing preset in ② go to the teacher's screen, with what you write. The teacher "
                          "reveals the answers.",
    "class_bad_code": "That is not a class code: codes have six letters and digits, like ACD346.",
    "class_err_no_class": "There is no class {code}: it was ended, it is more than a day old, or no page of it "
                          "was open for {idle} minutes.",
    "class_err_full_network": "This class already has {per_network} students from your network, as many as one "
                              "network may bring (a limit against fake students filling a class).",
    "class_err_slow_start": "Too many classes were started from this browser or network in the last few minutes: "
                            "wait ten minutes, or use a class already started.",
    "class_err_slow_join": "Too many pages joined classes from your network in the last few minutes (a limit "
                           "against floods): wait a few minutes, then reload.",
    "class_err_full": "This class is full ({n} students).",
    "class_err_too_many": "This server has as many classes as it can hold: try again later.",
    "class_err_revealed": "The answer is shown already: votes on this question are closed.",
    "class_err_not_teacher": "Only the teacher who started this class can do that.",
    "class_err_other": "The class could not take that: {message}",
    "class_your_answer": "Your answer for the class",
    "class_you_said": "You predicted: {choice}",
    "class_sent": "Sent: you can change it until the teacher reveals the answer.",
    "class_wait": "The answer appears when the teacher reveals it.",
    "class_reveal": "Reveal the answer",
    "class_hide": "Hide the answer (voting reopens)",
    "class_tally_title": "The class's answers ({n})",
    "class_show_texts": "Show what students wrote",
    "class_no_texts": "Nobody has written anything yet.",
    "class_answer": "Answer:",
    "class_no_single": "(No single right choice: the answer says why.)",
    "g_predict_class": "Why? Your words go to the teacher with your choice",
    "l1_c_a": "At t′: R = 0 and Z = 0; after t′: Z = 1",
    "l1_c_b": "Z = 0 at every step",
    "l1_c_c": "R = 1 and Z = 1 at every step",
    "l1_c_d": "No gate values can do that",
    "l2_c_a": "GRU lower; GRU faster per epoch",
    "l2_c_b": "GRU lower; plain RNN faster per epoch",
    "l2_c_c": "Plain RNN lower; GRU faster per epoch",
    "l2_c_d": "Plain RNN lower; plain RNN faster per epoch",
    "l3_c_a": "Faster training, higher perplexity",
    "l3_c_b": "Faster training, lower perplexity",
    "l3_c_c": "Slower training, higher perplexity",
    "l3_c_d": "No real difference",
    "l4_c_a": "The update gate",
    "l4_c_b": "The reset gate",
    "l4_c_c": "Both about the same",
    "ppl_question": "Predict first: with “{preset}”, what will the perplexity do?",
    "ppl_c_up": "Go up",
    "ppl_c_down": "Go down",
    "ppl_c_same": "Stay about the same (within 1 %)",
    "ppl_ans_up": "It went up: {free:.2f} → {forced:.2f}.",
    "ppl_ans_down": "It went down: {free:.2f} → {forced:.2f}.",
    "ppl_ans_same": "It stayed about the same: {free:.2f} → {forced:.2f}.",
    "ppl_ans_on": "(Measured on the teacher's text, {n:,} characters.)",
    "ppl_ans_on_teacher": "(Measured on your text, {n:,} characters.)",
    "ppl_ans_chaotic": "With the plain RNN this model is chaotic: where ② below computes the numbers again in this "
                       "browser (in another precision than the server's), its forced perplexity can differ visibly "
                       "from the answer's, which is the server's.",
    "ppl_wait_student": "The perplexity and the continuations appear when the teacher reveals the answer.",
    "ppl_custom_waits": ("In this class, custom forcing opens once the teacher has revealed what these presets do: "
                         "{presets}."),
    "ppl_custom_waits_teacher": ("In a class, custom forcing opens for everyone once you have revealed what "
                                 "these presets do: {presets} (a custom setting can copy a preset and give its "
                                 "answer away)."),
    "ppl_wait_teacher": "The perplexity and the continuations appear for everyone when you reveal the answer.",
}
