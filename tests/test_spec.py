import pytest

from rnnzoo.spec import format_spec, parse_mixer_spec, parse_spec, split_list


def test_mixer_specs_are_typed_by_the_mixer_config():
    name, options = parse_mixer_spec("gla:num_heads=2:expand_k=1:use_short_conv=true")
    assert name == "gla" and options == {"num_heads": 2, "expand_k": 1.0, "use_short_conv": True}
    assert type(options["expand_k"]) is float and options["use_short_conv"] is True
    assert parse_mixer_spec("set") == ("set", {})  # a name outside the registry without options passes through
    assert format_spec(*parse_mixer_spec("deltanet:allow_neg_eigval=True")) == "deltanet:allow_neg_eigval=True"
    with pytest.raises(ValueError, match="mixer 'gla' option num_heads=2.5: expected int"):
        parse_mixer_spec("gla:num_heads=2.5")
    with pytest.raises(ValueError, match="valid names"):
        parse_mixer_spec("glaa:num_heads=2")
    with pytest.raises(ValueError, match="write name:key=value"):
        parse_mixer_spec("gla:num_heads")


def test_task_specs_take_literals_and_lists_split_outside_brackets():
    assert parse_spec("mqar:test_lens=(64,128):name=x") == ("mqar", {"test_lens": (64, 128), "name": "x"})
    assert split_list("a,mqar:test_lens=(1,2),b") == ["a", "mqar:test_lens=(1,2)", "b"]
    with pytest.raises(ValueError, match="empty name"):
        parse_spec(":a=1")
