from rnnzoo.tasks import IGNORE, InductionHeads


def test_answer_is_the_token_after_the_first_special_token():
    task = InductionHeads(seq_len=20, vocab=8, test_lens=(20, 40))
    for length in task.test_lengths():
        x, y = task.at_length(length).make("test", 100, 1)
        assert x.shape == (100, length)
        for row in range(100):
            pos = (x[row] == 7).nonzero()[:, 0].tolist()
            assert len(pos) == 2 and pos[1] == length - 1
            assert (y[row, :-1] == IGNORE).all() and y[row, -1] == x[row, pos[0] + 1]
