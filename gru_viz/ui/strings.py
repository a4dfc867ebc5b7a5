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
    "pasted_text": "pasted text",
    "too_large": "{name}: larger than {mb} MB",
    "tm_unavailable": "The Time Machine could not be downloaded here ({reason}). Everything else works without "
                      "it: the bundled models, the other tabs, and the offline corpus (the Python documentation). "
                      "To add the book from a copy you have: python -m gru_viz fetch --from FILE",
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
    "engine_fast": "fast path (hand-written backprop, {backend})",
    "backend_cpp": "compiled C++",
    "backend_torch": "PyTorch fallback",
    "engine_textbook": "textbook (autograd, step by step)",
    "corpus_info": "{name}: {tokens:,} characters, vocabulary of {vocab}",
    "tokens": "Characters kept",
    "tokens_d2l": "d2l: letters a-z and spaces",
    "tokens_raw": "raw: every character",
    "tokens_help": "d2l's preprocessing lowercases the text and keeps only a-z and the space. Raw keeps every "
                   "character: capitals, digits, punctuation, line breaks, tabs, Chinese…",
    "max_vocab": "Vocabulary size (with `<unk>`)",
    "max_vocab_help": "The most frequent characters are kept; the rest read as `<unk>`. The default covers 99.5 % "
                      "of the text; at most 4,000.",
    "corpus_coverage": "The vocabulary covers {cov:.2%} of the text's characters.",
    "upload_ckpt": "Inspect a checkpoint (.safetensors)",
    "ckpt_loaded": "Loaded {name}: hidden {hidden}, vocabulary {vocab}",
    # model chooser
    "inspect": "Model to inspect",
    "pretrained": "Pretrained on The Time Machine · epoch {epoch}",
    "run_latest": "Run {n} ({label}) · latest, epoch {epoch}",
    "run_status": "Run {n} ({label})",
    "run_epoch": "Run {n} ({label}) · epoch {epoch}",
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
    "status_queued": "Waiting for a free training slot: number {pos} in the queue; {n} runs are training on this "
                     "server right now (at most {max} at once, so that every visitor gets a turn).",
    "status_running": "Training…",
    "status_paused": "Paused.",
    "status_stopped": "Stopped at epoch {epoch}.",
    "status_finished": "Finished: {epoch} epochs.",
    "status_diverged": "Stopped: {message}",
    "status_failed": "Stopped: {message}",
    "no_runs": "No training run yet. Pick settings in the sidebar (the defaults are d2l's; in projector mode the "
               "arrow at the top left opens it) and press Start.",
    "ppl_title": "Perplexity per epoch (log scale)",
    "reference_run": "bundled model (d2l's 500-epoch run)",
    "busy": "One run at a time per visitor: pause or stop the current one first.",
    "too_big": "This run would need about {need:,} MB of memory while it trains; this server can give a run at "
               "most {have:,} MB, so that the others' runs and pages keep working. This would fit: {fits}.",
    "busy_elsewhere": "You already have a run training in another tab of this browser: one run at a time per "
                      "visitor, so that everyone gets a turn. Stop it there first.",
    # scrubber
    "probe_settings": "Probe text and units shown",
    "probe": "Probe text (any text; it is normalised like the corpus: letters and spaces)",
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
    "train_this_way_settings": "It trains with the sidebar's settings: {hidden} hidden units, {epochs} epochs, "
                               "learning rate {lr:g}, {engine}. Change them there first for a quicker run; the "
                               "page then opens ③ Train live, where the curve grows.",
    "engine_short_fast": "fast code",
    "engine_short_textbook": "textbook code",
    "bad_forcing": "This forcing cannot be applied: {message}",
    "forcing_free": "free",
    "forcing_units": " on {n} units",
    "forcing_steps": " for steps {a}-{b}",
    "status_stopped_why": "Stopped at epoch {epoch}: {reason}",
    "train_this_way_help": "Train a new model from scratch with these gate values held during training, with the "
                           "same settings and seed, and overlay its perplexity curve on the others.",
    "train_forced_units": "Training forces the gates on all units and steps; the unit and step limits apply to "
                          "inspection only.",
    # equations
    "equations": "The GRU, as d2l writes it",
    "numbers_at": "Unit {u} at step {t}",
    "errors_generic": "Something went wrong: {message}. The page keeps working; try again or change the input.",
    # presentation, sharing, exports
    "language": "Language",
    "projector": "Projector mode",
    "projector_help": "Large type, larger charts, high contrast, the charts on the first screen; the sidebar is "
                      "folded away (its arrow at the top left opens it).",
    "shortcuts_bar": "Keys: ← → step · Home / End first / last · Space play / pause",
    "share": "Share this view",
    "share_help": "This link reopens the same model, forcing, step and unit: copy it with the button on the right.",
    "exports": "Downloads",
    "dl_ckpt": "Checkpoint (.safetensors)",
    "dl_csv": "Trace (CSV)",
    "dl_npz": "Trace (NPZ)",
    "dl_figures": "Each chart's camera icon saves a PNG.",
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
                   "rnn_scratch). At initialisation every curve vanishes within 60 steps, the GRU's least: about "
                   "10⁻¹⁷ of the signal is left, against 10⁻³⁹ for the plain RNN. The gated GRU stays ahead at epoch "
                   "20, but by epoch 100 the trained plain RNN passes far more gradient back (10⁻⁶ against 10⁻¹⁵). "
                   "After 500 epochs neither vanishes nor explodes: over 60 steps the GRU's gradient shrinks about 3 "
                   "to 30 times, the trained plain RNN's 1 to 6 times (on most passages of the book). Only the GRU's "
                   "own weights with the gates removed explode (typically hundreds of times): they were learned "
                   "together with the gates. d2l trains through 35 steps at a time, so nothing rewards either model "
                   "for reaching 60 steps back.",
    "g_target": "Target step t",
    "g_free": "GRU (free)",
    "g_rnn": "GRU weights, gates removed (Z=0, R=1)",
    "g_rnn_trained": "plain RNN trained with d2l's recipe (epoch {epoch})",
    "g_grad_line": "Here, from t′ = {t} back to t′ = 0 the gradient is multiplied by {gru:.1e} in the GRU and "
                   "{forced:.1e} with its gates removed.",
    "g_grad_line_rnn": "In the plain RNN trained for {rnn_epoch} epochs: {rnn:.1e}.",
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
                           "biases: not the same function as d2l's cell. gru_viz.analysis.TorchConventionGRU "
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
    "l2_a": "Per epoch the GRU is slower: about three recurrent matrix products per step instead of one. With "
            "d2l's recipe (500 epochs) the GRU reaches perplexity 1.05 and the plain RNN 1.18, whose curve swings "
            "between 1.02 and 1.19; in a short race either may lead. On this book, read 35 characters at a time, "
            "gating helps early in training: at initialisation the GRU passes about 10²² times more gradient over "
            "60 steps than a plain RNN, at epoch 20 about a million times more. Later it does not: by epoch 100 the "
            "trained plain RNN passes more gradient back, and after 500 epochs both pass a usable signal. The update "
            "gate's copy path, the textbook reason for GRUs, stays almost closed on this text: a short corpus "
            "learned by heart needs little long memory.",
    "l3_q": "3. What happens with fewer hidden units, e.g. 32 instead of 256?",
    "l3_where": "The sidebar now says 32 hidden units: press Start in ③ Train live and compare with the bundled "
                "model's curve.",
    "l3_a": "Training is faster but the perplexity stays higher: 32 units cannot memorise as much of the text.",
    "l4_q": "4. A GRU with only a reset gate, or only an update gate: which gate matters more here?",
    "l4_where": "The race trains both variants beside the GRU: start it above.",
    "l4_a": "Read it off the race's curves rather than from a rule: on this corpus the variants stay close for many "
            "epochs. What differs for sure is the mechanism: only the update gate gives a copy path (Z near 1) "
            "along which information and gradients survive many steps; the reset gate lets the candidate ignore "
            "the past when it no longer matters.",
}

def translate(key: str, lang: str = "en", **fmt: object) -> str:
    """The string for `key` in `lang` (English when missing), formatted with `fmt`."""
    table = LANGS.get(lang, EN)
    text = table.get(key, EN[key])
    return text.format(**fmt) if fmt else text

# Simplified Chinese, with the terms of d2l-zh (《动手学深度学习》): 重置门, 更新门, 候选隐状态, 隐状态, 困惑度.
ZH: dict[str, str] = {
    "title": "门控循环单元（GRU）：看门如何学习",
    "subtitle": "在《时间机器》上从零训练 d2l 的 GRU，逐个时间步查看重置门与更新门，并强制设定门的取值，"
                "看看它们各自的作用。",
    "status_line": "设备 **{device}** · 训练代码 **{engine}** · 正在查看 **{model}**",
    "settings": "训练设置",
    "corpus": "语料",
    "corpus_tm": "《时间机器》（H. G. 威尔斯）",
    "corpus_offline": "离线：Python 文档（随 Python 安装）",
    "corpus_upload": "上传 .txt 文件",
    "corpus_paste": "粘贴文本",
    "upload_txt": "UTF-8 文本文件",
    "pasted_text": "粘贴的文本",
    "too_large": "{name}：超过 {mb} MB",
    "tm_unavailable": "这里无法下载《时间机器》（{reason}）。其余功能都不需要它：内置模型、其他标签页，以及离线语料"
                      "（Python 文档）。如果你有这本书的副本，可以这样加入：python -m gru_viz fetch --from FILE",
    "paste_here": "你的文本（英文效果最好：模型只看到字母 a-z 和空格）",
    "hidden": "隐藏单元数",
    "lr": "学习率",
    "epochs": "迭代周期数",
    "batch_size": "批量大小",
    "num_steps": "每个小批量的时间步数",
    "clip": "梯度裁剪 θ",
    "sampling": "小批量采样",
    "sequential": "顺序分区（保留状态）",
    "random": "随机采样（重置状态）",
    "max_tokens": "使用的字符数（max tokens）",
    "seed": "随机种子",
    "device": "设备",
    "engine_choice": "训练代码",
    "engine_fast": "快速路径（手写反向传播，{backend}）",
    "backend_cpp": "已编译的 C++",
    "backend_torch": "PyTorch 后备实现",
    "engine_textbook": "教材实现（自动求导，逐步计算）",
    "corpus_info": "{name}：{tokens:,} 个字符，词表大小 {vocab}",
    "tokens": "保留的字符",
    "tokens_d2l": "d2l：字母 a-z 与空格",
    "tokens_raw": "原始：保留所有字符",
    "tokens_help": "d2l 的预处理把文本转为小写，只保留 a-z 与空格。"
                   "原始模式保留所有字符：大写、数字、标点、换行、制表符、中文……",
    "max_vocab": "词表大小（含 `<unk>`）",
    "max_vocab_help": "保留出现最多的字符，其余读作 `<unk>`。默认值覆盖文本 99.5% 的字符；最多 4,000。",
    "corpus_coverage": "词表覆盖文本中 {cov:.2%} 的字符。",
    "upload_ckpt": "查看检查点（.safetensors）",
    "ckpt_loaded": "已加载 {name}：隐藏单元 {hidden}，词表 {vocab}",
    "inspect": "要查看的模型",
    "pretrained": "在《时间机器》上预训练 · 第 {epoch} 周期",
    "run_latest": "训练 {n}（{label}）· 最新，第 {epoch} 周期",
    "run_status": "训练 {n}（{label}）",
    "run_epoch": "训练 {n}（{label}）· 第 {epoch} 周期",
    "uploaded": "已上传：{name}",
    "no_model": "还没有模型：请在“实时训练”页开始一次训练（小模型只需几秒）。",
    "tab_scrub": "① 逐时间步查看",
    "tab_force": "② 强制设定门",
    "tab_train": "③ 实时训练",
    "start": "开始",
    "pause": "暂停",
    "resume": "继续",
    "stop": "停止",
    "reset": "重置",
    "quick": "快速训练（隐藏单元 64，30 个周期）",
    "epoch_of": "第 {epoch} / {epochs} 周期",
    "perplexity": "困惑度",
    "tokens_per_sec": "词元/秒",
    "time_left": "剩余时间",
    "device_in_use": "设备",
    "continuation": "第 {epoch} 周期时对“{prefix}”的续写",
    "status_queued": "等待空闲的训练名额：排在第 {pos} 位；服务器上正有 {n} 个训练在运行（最多同时 {max} 个，"
                     "好让每位访客都轮得到）。",
    "status_running": "训练中……",
    "status_paused": "已暂停。",
    "status_stopped": "已在第 {epoch} 周期停止。",
    "status_finished": "完成：共 {epoch} 个周期。",
    "status_diverged": "已停止：{message}",
    "status_failed": "已停止：{message}",
    "no_runs": "还没有训练。在侧边栏选择设置（默认值与 d2l 相同；投影模式下点击左上角的箭头打开侧边栏），"
               "然后点击“开始”。",
    "ppl_title": "每个周期的困惑度（对数刻度）",
    "reference_run": "内置模型（d2l 的 500 周期训练）",
    "busy": "每位访客同时只能进行一个训练：请先暂停或停止当前训练。",
    "too_big": "这次训练大约需要 {need:,} MB 内存；这台服务器给每个训练最多 {have:,} MB，以保证其他人的训练和页面"
               "正常运行。这样可以放得下：{fits}。",
    "busy_elsewhere": "你已经在这个浏览器的另一个标签页里有一个正在训练的任务：每位访客一次只能训练一个，"
                      "好让每个人都轮得到。请先在那里停止它。",
    "probe_settings": "探测文本与显示的单元",
    "probe": "探测文本（任意文本；会像语料一样规范化：只保留字母和空格）",
    "step": "时间步 t",
    "play": "播放",
    "pause_play": "暂停",
    "first": "开头",
    "prev": "后退",
    "next": "前进",
    "last": "末尾",
    "jump": "跳到下一个",
    "jump_placeholder": "一个字符，例如 t",
    "jump_help": "输入一个字符，时间步会移到它下一次出现的位置",
    "units": "显示的隐藏单元",
    "units_all": "全部",
    "units_active": "更新门变化最大的 32 个",
    "units_first": "前 64 个",
    "at_step": "第 {t} 步：输入“{ch}”",
    "r_title": "重置门 R<sub>t</sub>（单元 × 时间）",
    "z_title": "更新门 Z<sub>t</sub>（单元 × 时间）",
    "mix_names": "H<sub>t−1</sub>|候选隐状态 H̃<sub>t</sub>|隐状态 H<sub>t</sub>|更新门 Z<sub>t</sub>",
    "next_char": "下一个字符",
    "unit_numbers": "显示数值的单元",
    "keys_hint": "按键：← → 单步，Home / End 跳到开头 / 末尾，空格键播放。",
    "unknown_chars": "有 {n} 个字符不在该模型的词表中，显示为 <unk>。",
    "probe_empty": "探测文本中没有字母：请输入一些英文文本。",
    "probe_long": "探测文本只取前 {n} 个字符。",
    "forced_note": "已强制设定门：{what}。图中显示的是实际使用的值。",
    "preset": "预设",
    "preset_free": "自由",
    "preset_plain_rnn": "普通 RNN（Z=0，R=1）",
    "preset_frozen_memory": "冻结记忆（Z=1）",
    "preset_amnesia": "失忆（R=0）",
    "preset_custom": "自定义",
    "explain_free": "门由模型自己计算：这就是训练好的 GRU。",
    "explain_plain_rnn": "Z = 0 让每一步都覆盖隐状态，R = 1 总是读取全部过去：GRU 恰好变成普通 RNN "
                         "H_t = tanh(X_t W_xh + H_{t−1} W_hh + b_h)，使用的是该模型的权重（它并不是这样训练的，"
                         "所以预计会失效）。",
    "explain_frozen_memory": "Z = 1 永远复制旧的隐状态：H_t = H_{t−1}。新信息进不来，预测不随输入变化。",
    "explain_amnesia": "R = 0 让候选隐状态忽略过去：H̃_t = tanh(X_t W_xh + b_h)。只剩更新门把记忆向前传递。",
    "explain_custom": "把 R 和/或 Z 固定为你选择的值，可以只作用于部分隐藏单元和时间步。",
    "force_r": "强制设定重置门 R",
    "force_z": "强制设定更新门 Z",
    "value": "取值",
    "force_units": "只作用于这些单元（如 0-31, 100；留空 = 全部）",
    "force_steps": "只作用于这些时间步",
    "bad_units": "单元：{message}",
    "ppl_free": "困惑度（自由）",
    "ppl_forced": "困惑度（强制）",
    "ppl_on": "在语料的前 {n:,} 个字符上",
    "cont_free": "自由",
    "cont_forced": "强制（{what}）",
    "diff_note": "与自由续写不同的字符已高亮显示。",
    "train_this_way": "就这样训练",
    "train_this_way_settings": "它使用侧边栏的设置：{hidden} 个隐藏单元、{epochs} 个周期、学习率 {lr:g}、{engine}。"
                               "想更快完成，请先在那里修改；随后页面会打开“③ 实时训练”，在那里可以看到曲线增长。",
    "engine_short_fast": "快速代码",
    "engine_short_textbook": "教科书代码",
    "bad_forcing": "无法应用这个强制设定：{message}",
    "forcing_free": "自由",
    "forcing_units": "（{n} 个单元）",
    "forcing_steps": "（时间步 {a}-{b}）",
    "status_stopped_why": "在第 {epoch} 周期停止：{reason}",
    "train_this_way_help": "在训练时固定这些门的取值，用相同的设置和随机种子从零训练一个新模型，"
                           "并把它的困惑度曲线叠加到其他曲线上。",
    "train_forced_units": "训练时对所有单元和时间步强制设定门；单元和时间步的限制只用于查看。",
    "equations": "d2l 中的 GRU 公式",
    "numbers_at": "第 {t} 步的单元 {u}",
    "errors_generic": "出了点问题：{message}。页面仍可使用；请重试或更换输入。",
    "language": "语言",
    "projector": "投影模式",
    "projector_help": "大字号、更大的图表、高对比度，图表位于第一屏；侧边栏会收起（点击左上角的箭头打开）。",
    "shortcuts_bar": "按键：← → 单步 · Home / End 开头 / 末尾 · 空格 播放 / 暂停",
    "share": "分享当前视图",
    "share_help": "这个链接会打开相同的模型、强制设定、时间步和单元：用右侧的按钮复制。",
    "exports": "下载",
    "dl_ckpt": "检查点（.safetensors）",
    "dl_csv": "轨迹（CSV）",
    "dl_npz": "轨迹（NPZ）",
    "dl_figures": "每个图表的相机图标可保存 PNG。",
    "bad_query": "链接中的设置“{name}”无法识别，已忽略。",
    "ax_unit": "单元",
    "ax_gate": "门",
    "ax_value": "取值",
    "ax_hidden_unit": "隐藏单元",
    "ax_probability": "概率",
    "ax_epoch": "周期",
    "ax_perplexity": "困惑度",
    "tab_gates": "④ 门为何重要",
    "g_grad_title": "梯度随时间的流动",
    "g_grad_help": "预测第 t 步之后字符的损失，对每个更早时间步 t′ 的隐状态 H_t′ 有多敏感（对数刻度）。三条曲线：GRU；"
                   "同一组 GRU 权重去掉门（R = 1，Z = 0）；按 d2l 的方法训练的普通 RNN（上一章的 rnn_scratch）。"
                   "初始化时，所有曲线在 60 步内都趋于消失，GRU 消失得最少：剩下约 10⁻¹⁷ 的梯度，普通 RNN 只剩约 "
                   "10⁻³⁹。第 20 个周期时带门的 GRU 仍然领先，但到第 100 个周期，训练过的普通 RNN 传回的梯度远多于 "
                   "GRU（10⁻⁶ 对 10⁻¹⁵）。训练 500 个周期后，两者的梯度既不消失也不爆炸：在 60 步内，GRU 的梯度缩小"
                   "约 3 到 30 倍，训练过的普通 RNN 缩小约 1 到 6 倍（书中大多数段落如此）。只有去掉门的 GRU 权重会"
                   "爆炸（通常数百倍）：这些权重是和门一起学到的。d2l 每次只沿 35 个时间步反向传播，因此没有什么促使"
                   "任何一个模型把梯度传到 60 步之前。",
    "g_target": "目标时间步 t",
    "g_free": "GRU（自由）",
    "g_rnn": "GRU 权重去掉门（Z=0，R=1）",
    "g_rnn_trained": "按 d2l 方法训练的普通 RNN（第 {epoch} 周期）",
    "g_grad_line": "在这里，从 t′ = {t} 回到 t′ = 0，梯度在 GRU 中变为原来的 {gru:.1e} 倍，"
                   "去掉门后变为 {forced:.1e} 倍。",
    "g_grad_line_rnn": "在训练了 {rnn_epoch} 个周期的普通 RNN 中变为 {rnn:.1e} 倍。",
    "g_surv_median": "中位数单元",
    "g_surv_help": "∏Z：H_t′ 仅经由更新门的复制通路到达 H_t 的比例（对数刻度；实线为中位数单元；点线为各单元的平均值，"
                   "会被少数最好的单元拉高；阴影为 10%–90% 的单元）。普通 RNN 没有这条通路（Z = 0）。初始化时每个"
                   "更新门约为 0.5，每一步都把保留的部分减半：10 步后约剩 0.001。在这段文本上训练会让更新门更加关闭，"
                   "而不是打开：第 500 个周期时，典型单元在 10 步后保留不到百万分之一，最好的单元约 6%，30 步后没有"
                   "任何单元保留超过 0.03%（就这段探测文本而言）。在这里 GRU 并不靠复制把字符带向后面；把 Z 强制为 1"
                   "（冻结记忆）可以看到打开的复制通路会怎样。",
    "g_current": "你的强制设定（{what}）",
    "g_grad_chart": "t = {t} 时的 ‖∂ℓ_t/∂H_t′‖（对数刻度）",
    "g_surv_band": "10%-90% 的单元",
    "g_surv_mean": "所有单元的平均值",
    "g_surv_chart": "H<sub>t′</sub> 经由 Z 在 H<sub>{t}</sub> 中保留了多少（对数刻度）",
    "g_influence": "按自由 GRU 的梯度范数给探测文本着色（越亮对第 t 步影响越大）：",
    "g_units_title": "隐藏单元探索",
    "g_units_help": "按与简单字符特征的相关程度给单元排序；选择一个单元，用它的颜色阅读文本。",
    "g_quantity": "着色依据",
    "g_features": "空格|元音|词首字母|词尾字母|词内位置",
    "g_features_raw": "双引号内|单引号内|括号深度|行内位置|缩进|大写字母|数字|标点|句末|中文标点|句内位置",
    "g_rank_label": "单元 {u}：{feature}（r = {r:+.2f}）",
    "g_unit": "隐藏单元",
    "g_scale_state": "颜色从 −1（深红）经 0（白）到 +1（深蓝）。",
    "g_scale_gate": "颜色从 0（深蓝）到 1（黄）。",
    "g_race_title": "比赛：GRU 与它被削弱的版本",
    "g_race_help": "四个模型，相同的初始权重、相同的小批量：GRU、普通 RNN（Z=0，R=1）、只有重置门（Z=0）、"
                   "只有更新门（R=1）。曲线在“③ 实时训练”中一起增长。",
    "g_race_start": "开始比赛",
    "g_race_label": "比赛",
    "g_race_started": "比赛开始了：在“③ 实时训练”中观看曲线。",
    "g_conv_title": "不同的写法",
    "g_conv": "GRU 的写法",
    "g_conv_d2l": "d2l（本应用）",
    "g_conv_colah": "colah 的博客",
    "g_conv_pytorch": "PyTorch nn.GRU",
    "g_conv_note_d2l": "Z_t 接近 1 时保留旧的隐状态。这就是本应用计算的单元。",
    "g_conv_note_colah": "Z 与 1 − Z 的角色互换：这里 Z_t 接近 1 时采用新的候选隐状态。模型相同，只是把 z 读作 1 − z。",
    "g_conv_note_pytorch": "重置门在矩阵乘法之后乘以 W_hn h + b_hn，并且有两组偏置：与 d2l 的单元不是同一个函数。"
                           "gru_viz.analysis.TorchConventionGRU 可以精确复现 nn.GRU（已测试）。",
    "g_lesson_title": "练习：本章的习题",
    "g_predict": "先写下你的预测（只有你能看到）",
    "g_setup": "为此设置应用",
    "g_reveal": "揭晓答案",
    "l1_q": "1. 什么样的门取值能让第 t 步的输出只依赖于更早的第 t′ 步的输入？",
    "l1_where": "现在从第 21 步起 Z 固定为 1（“② 强制设定门”）：看上方 t = 60 的梯度流。曲线从 60 到 20 是平的："
                "中间的步骤都影响不到损失。",
    "l1_a": "在 t′：R = 0 且 Z = 0，于是 H_t′ = H̃_t′ 只依赖于 X_t′。t′ 之后：Z = 1，H 原样复制到第 t 步。"
            "梯度不衰减地流回 t′，并在那里停止。",
    "l2_q": "2. 用相同方式训练 GRU 和普通 RNN。哪个的困惑度更低？哪个每个周期更快？",
    "l2_where": "开始上方的比赛，在“③ 实时训练”中比较曲线和词元/秒。",
    "l2_a": "每个周期 GRU 更慢：每一步大约需要三次循环矩阵乘法而不是一次。按 d2l 的方法（500 个周期），GRU 的"
            "困惑度达到 1.05，普通 RNN 为 1.18，其曲线在 1.02 到 1.19 之间波动；短的比赛中谁都可能领先。在这本书上、"
            "每次读 35 个字符时，门控在训练初期有帮助：初始化时，GRU 传过 60 步的梯度约为普通 RNN 的 10²² 倍，第 20 "
            "个周期时约为一百万倍。之后就不再如此：到第 100 个周期，训练过的普通 RNN 传回的梯度更多；训练 500 个周期"
            "后，两者都能传回可用的梯度。更新门的复制通路——教科书中使用 GRU 的理由——在这段文本上几乎一直关闭："
            "一个被背下来的短语料并不需要很长的记忆。",
    "l3_q": "3. 隐藏单元更少（例如 32 而不是 256）会怎样？",
    "l3_where": "侧边栏现在是 32 个隐藏单元：在“③ 实时训练”中点击“开始”，与内置模型的曲线比较。",
    "l3_a": "训练更快，但困惑度更高：32 个单元记不住那么多文本。",
    "l4_q": "4. 只有重置门或只有更新门的 GRU：在这里哪个门更重要？",
    "l4_where": "比赛会在 GRU 旁边训练这两个变体：在上方开始比赛。",
    "l4_a": "请从比赛曲线中读出答案，而不是套用规则：在这个语料上，各个变体在很多周期内都很接近。确定不同的是机制："
            "只有更新门提供复制通路（Z 接近 1），让信息和梯度跨越很多步；重置门让候选隐状态在过去不再重要时忽略它。",
}

LANGS = {"en": EN, "zh": ZH}
LANGUAGE_NAMES = {"en": "English", "zh": "简体中文"}
LANGUAGE_LABEL = "Language · 语言"  # the same in both languages, so anyone can find the switch
