"""Chinese end to end: {query, pos[], neg[]} training rows plus a headerless STS-B-style test file."""

import json

import pytest

from mrlkit import FinetuneConfig, finetune
from mrlkit.data import load_eval_set
from mrlkit.data.types import STSSet
from mrlkit.errors import DataError

ROWS = [
    ("一架飞机要起飞了。", "一架飞机正在起飞。", ["一个男人在吹笛子。", "一只猫在睡觉。"]),
    ("一个男人在吹一支大笛子。", "一个人在吹长笛。", ["一个男人在开车。", "孩子们在吃午饭。"]),
    ("一个女孩在梳头。", "一个女孩在给她的头发做发型。", ["一群人在踢足球。", "股市今天下跌了。"]),
    ("一只狗在公园里跑。", "一只狗在草地上奔跑。", ["一个女人在切洋葱。", "一架飞机正降落在跑道上。"]),
    ("一个女人在切洋葱。", "一个女人正在切菜。", ["一只狗在公园里跑。", "一个人在弹吉他。"]),
    ("一个人在弹吉他。", "一个男人在演奏吉他。", ["一个女孩在梳头。", "一只猫在睡觉。"]),
    ("孩子们在吃午饭。", "孩子们在吃饭。", ["一个男人在开车。", "一架飞机正在起飞。"]),
    ("股市今天下跌了。", "今天股票大跌。", ["一个人在吹长笛。", "一群人在踢足球。"]),
]
STS = [
    ("一个女孩在给她的头发做发型。", "一个女孩在梳头。", 2),
    ("一群男人在海滩上踢足球。", "一群男孩在海滩上踢足球。", 3),
    ("一个女人在测量另一个女人的脚踝。", "女人测量另一个女人的脚踝。", 5),
    ("一个男人在切黄瓜。", "一个男人在切黄瓜。", 5),
    ("一个男人在弹竖琴。", "一个男人在弹键盘。", 1),
    ("一只猫在睡觉。", "股市今天下跌了。", 0),
]


@pytest.fixture
def zh_files(tmp_path):
    train = tmp_path / "bge_finetune_data.jsonl"
    train.write_text(
        "".join(
            json.dumps({"query": q, "pos": [p], "neg": n}, ensure_ascii=False) + "\n" for q, p, n in ROWS
        ),
        encoding="utf-8",
    )
    test = tmp_path / "STS-B.test.data"  # no header, tab-separated, integer scores 0-5
    test.write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in STS), encoding="utf-8")
    return train, test


def test_a_headerless_sts_b_file_loads_with_its_scale_read_from_the_file(zh_files):
    _, test = zh_files
    sts = load_eval_set(test, score_range=None)
    assert isinstance(sts, STSSet) and len(sts) == 6
    assert sts.sentences1[0] == "一个女孩在给她的头发做发型。"  # the first line is data, not a header
    assert sts.scores == pytest.approx([s / 5 for *_, s in STS])  # 0-5 read from the file
    with pytest.raises(DataError, match=r"outside the score range \[0, 1\]"):
        load_eval_set(test)  # an explicit range is still checked


def test_bad_rows_of_a_headerless_file_name_their_line(tmp_path):
    bad = tmp_path / "STS-B.valid.data"
    bad.write_text("一个女孩。\t一个男孩。\t2\n一只猫。\t一只狗。\tabc\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"STS-B.valid.data:2:"):
        load_eval_set(bad, score_range=None)
    plain = tmp_path / "notes.data"
    plain.write_text("no tabs here\n", encoding="utf-8")
    with pytest.raises(DataError, match="unsupported file extension"):
        load_eval_set(plain)
    other = tmp_path / "pairs.txt"  # only .data files are read as tab-separated without a .tsv name
    other.write_text("a\tb\t1\n", encoding="utf-8")
    with pytest.raises(DataError, match="unsupported file extension"):
        load_eval_set(other)


def test_finetune_trains_on_triplets_and_reports_spearman_on_the_sts_test_file(
    zh_files, tiny_model_path, tmp_path
):
    train, test = zh_files
    config = FinetuneConfig.load(
        None,
        data=str(train),
        test_data=str(test),
        model=tiny_model_path,
        output_dir=str(tmp_path / "out"),
        epochs=1,
        batch_size=4,
        eval_batch_size=16,
    )
    result = finetune(config)
    assert result.report.task == "sts"
    assert set(result.report.tuned) == {64, 32}
    assert "spearman" in result.report.tuned[32]
    assert result.report.meta["data_kind"] in ("query-pos-neg", "triplets")
