import io

from fer_tf.progress import progress


def test_progress_in_a_pipe_is_a_few_plain_lines():
    stream = io.StringIO()
    assert list(progress(range(1000), "work", stream=stream)) == list(range(1000))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in stream.getvalue()
    assert lines[0].startswith("work: 100/1000 (10%)")
    assert lines[-1].startswith("work: 1000/1000 (100%)")
    unknown = io.StringIO()
    list(progress(iter(range(7)), "gen", stream=unknown, unit="img"))
    assert unknown.getvalue().startswith("gen: 7 img")
    silent = io.StringIO()
    list(progress(range(5), "off", enabled=False, stream=silent))
    assert silent.getvalue() == ""


def test_duration_text_and_work_clock_remaining_time():
    from fer_tf.progress import WorkClock, duration_text

    assert [duration_text(s) for s in (4.6, 723, 7500)] == ["5s", "12m03s", "2h05m"]
    stream = io.StringIO()
    clock = WorkClock(100, stream=stream)
    assert clock.remaining() is None
    clock.line("start")
    assert stream.getvalue().startswith("start | elapsed 0s") and "remaining" not in \
        stream.getvalue()
    clock.done(40, timed=False)          # resumed: finished by an earlier process
    clock.done(20)                       # 20 units in this process' 60 s
    clock.start -= 60
    assert abs(clock.remaining() - 40 * 3.0) < 1.0
    clock.line("fold 2")
    assert stream.getvalue().splitlines()[-1] == "fold 2 | elapsed 1m00s | remaining ~2m00s"
