"""Chinese prose written for these tests (no third-party text): a few thousand characters, with full-width
punctuation, quotes, brackets, digits and line breaks, for the raw-character mode end to end."""

from __future__ import annotations

PARAGRAPHS = (
    "清晨的小镇还很安静。河边的柳树在风里轻轻摇动，卖早点的老人已经点起了炉火。"
    "他说：“今天的豆浆比昨天更甜。”孩子们背着书包走过石桥，笑声一直传到对岸。",
    "循环神经网络一次读一个字。它把读过的内容压进一个隐藏状态，再用这个状态猜下一个字。"
    "门控循环单元有两个门：重置门决定忘记多少过去，更新门决定保留多少旧的状态。",
    "老师在黑板上写下三个问题（一、为什么梯度会消失？二、门怎样帮助记忆？三、模型真的理解句子吗？），"
    "然后请同学们分组讨论。有人说：“记忆就像一条长长的走廊。”也有人不同意。",
    "下午两点，图书馆里只剩下翻书的声音。她在笔记本上记下：第1章讲数据，第2章讲模型，第3章讲训练。"
    "窗外下起了小雨，雨点打在玻璃上，像有人在轻轻敲门。",
    "《时间机器》是一本关于未来的小说。书中的旅行者回到朋友们中间，讲述他看到的奇怪世界。"
    "朋友们半信半疑，有人问他：“你有证据吗？”他只是笑了笑，把一朵枯萎的花放在桌上。",
    "训练开始以后，困惑度一点一点地下降。第10轮时，模型已经学会在句号后面换行；"
    "第50轮时，它开始在引号里写出完整的短句。我们把这些变化画成曲线，挂在教室的墙上。",
    "傍晚，渔船陆续回到港口。码头上堆满了木箱【里面装着鱼和虾】，工人们一边搬运一边唱歌。"
    "灯塔亮起来的时候，海面上只剩下一条金色的光带。",
    "如果把每个字都当成一个记号，中文的词表会比英文大得多。常用字有三千多个，"
    "但一篇短文里出现的往往只有几百个。所以我们只保留最常见的字，其余的都读作未知。",
)


def chinese_text(repeats: int = 4) -> str:
    """The paragraphs in a different order each round, one per line: about 3,000 characters for 4 rounds."""
    lines = []
    for k in range(repeats):
        order = PARAGRAPHS[k % len(PARAGRAPHS):] + PARAGRAPHS[: k % len(PARAGRAPHS)]
        lines.extend(order if k % 2 == 0 else reversed(order))
    return "\n".join(lines) + "\n"
