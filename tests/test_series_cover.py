# SPDX-License-Identifier: GPL-2.0
"""A driver series' cover letter says what its patches do: the client
actions, or the provider changes (a series of provider commits has no
callback actions and no callback table)."""

from __future__ import annotations

from dmacb_lib import series


def test_provider_series_cover():
    part = [{"commit": "a"}, {"commit": "b"}]
    text = " ".join(series.cover_blurb("dmaengine", part, [], ["provider_tasklets", "providers"],
                                       []).split())
    assert f'the series "{series.API_TITLE}"' in text
    assert "Each patch does one of: move a provider's own tasklet that only delivers " \
        "callbacks onto the core's per-channel notification path" in text
    assert "; call vchan_notify_irq() as the last step of a virt-dma provider's" in text
    assert "Coccinelle (cocci/tasklet_to_chan_notify.cocci and " \
        "cocci/vchan_notify_irq.cocci of dmacb)" in text
    assert "so that providers need no tasklet of their own and virt-dma providers may " \
        "deliver from their interrupt handler" in text
    one = " ".join(series.cover_blurb("dmaengine", part, [], ["providers"], []).split())
    assert "Every patch does the same: call vchan_notify_irq()" in one
    assert "no tasklet of their own" not in one
    assert "one of: ." not in text and "The callbacks, with the group" not in text
    assert "libclang" not in text


def test_client_series_cover():
    text = " ".join(series.cover_blurb("spi", [{"commit": "a"}], ["hardirq"], [],
                                       ["  drivers/spi/x.c: x_cb() [hardirq-safe]"]).split())
    assert "Every patch does the same: mark a callback that obeys the hardirq contract" in text
    assert "completion callbacks no longer need a tasklet" in text
    assert "drivers/spi/x.c: x_cb() [hardirq-safe]" in text
