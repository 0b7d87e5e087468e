# SPDX-License-Identifier: GPL-2.0
# Mutations of the v2 series tried against its KUnit suite (README.md,
# "Mutations tried"): name -> (what is removed, cases expected to fail,
# [(file, old text, new text)]), applied by run.sh.
# name -> (description, expected failing cases, [(file, old, new)])
M = {
'M1': ("vchan_notify_irq() delivers with vc.lock held (the v1 behaviour)",
       ["hardirq", "restart", "tx_status", "driver_lock"],
       [("drivers/dma/virt-dma.c",
         """		result = vd->tx_result;
		spin_unlock_irqrestore(&vc->lock, flags);

		if (vc->desc_result)
			vc->desc_result(vc, vd, cyclic ? NULL : &result);
		dmaengine_desc_callback_invoke(&cb, &result);

		spin_lock_irqsave(&vc->lock, flags);
		if (!cyclic) {""",
         """		result = vd->tx_result;
		if (!hardirq)
			spin_unlock_irqrestore(&vc->lock, flags);

		if (vc->desc_result)
			vc->desc_result(vc, vd, cyclic ? NULL : &result);
		dmaengine_desc_callback_invoke(&cb, &result);

		if (!hardirq)
			spin_lock_irqsave(&vc->lock, flags);
		if (!cyclic) {""")]),
'M2': ("flags not recorded by the prep wrappers (read from tx->flags only, as v1)",
       ["task", "hardirq", "restart", "tx_status", "driver_lock"],
       [("include/linux/dmaengine.h",
         """	tx->notify_flags = flags & (DMA_PREP_HARDIRQ_CALLBACK |
				    DMA_PREP_TASK_CALLBACK);""",
         """	tx->notify_flags = tx->flags & (DMA_PREP_HARDIRQ_CALLBACK |
					DMA_PREP_TASK_CALLBACK);""")]),
'M3': ("prep wrappers do not clear the completion (stale pointer on recycling)",
       ["plain_reuse"],
       [("include/linux/dmaengine.h",
         """	tx->completion = NULL;
	tx->completion_result = NULL;
#ifdef CONFIG_DMA_ENGINE""",
         """#ifdef CONFIG_DMA_ENGINE""")]),
'M4': ("completion signalled before the callback",
       ["completion_result"],
       [("drivers/dma/dmaengine.h",
         """	if (cb->callback_result) {
		if (!result)
			result = &dummy_result;""",
         """	if (cb->completion)
		complete(cb->completion);
	if (cb->callback_result) {
		if (!result)
			result = &dummy_result;""")]),
'M5': ("dmaengine_chan_notify_sync() does not wait for in-flight deliveries",
       ["sync_inflight"],
       [("drivers/dma/dmaengine.c",
         """	wait_var_event(&notify->inflight, !atomic_read(&notify->inflight));
""", "")]),
'M6': ("terminate keeps notifications waiting for task context",
       ["terminate_task"],
       [("drivers/dma/virt-dma.h",
         """	list_splice_tail_init(&vc->desc_task, head);
""", "")]),
'M7': ("prep does not refuse DMA_PREP_TASK_CALLBACK where the channel cannot",
       ["plain_no_task"],
       [("include/linux/dmaengine.h",
         """	return !(flags & DMA_PREP_TASK_CALLBACK) || chan->task_callbacks;""",
         """	return true;""")]),
'M8': ("no single-deliverer token: vchan_notify_irq() runs while the deferred path delivers",
       ["order_nested"],
       [("drivers/dma/virt-dma.c",
         """	if (vc->delivering) {
		vc->redeliver = true;""",
         """	if (vc->delivering && !hardirq) {
		vc->redeliver = true;""")]),
'M9': ("completion result not stored",
       ["completion_result", "plain_reuse"],
       [("drivers/dma/dmaengine.h",
         """			*cb->completion_result = result ? *result : dummy_result;""",
         """			cb->completion_result->residue = 0;""")]),
'M10': ("no in-flight count around the direct delivery",
        ["hardirq"],
        [("drivers/dma/virt-dma.c",
          """	if (hardirq)
		dmaengine_chan_notify_begin(&vc->notify);
""", ""),
         ("drivers/dma/virt-dma.c",
          """	if (hardirq)
		dmaengine_chan_notify_end(&vc->notify);
""", "")]),
'M11': ("no callback for a bare completion on a channel that signals none",
        ["plain_no_completion"],
        [("drivers/dma/dmaengine.c",
          """		tx->callback = dmaengine_complete_callback;
		tx->callback_param = done;
		return 0;""",
          """		return 0;""")]),
'M12': ("direct delivery skips a deferred descriptor instead of stopping at it",
        ["order"],
        [("drivers/dma/virt-dma.c",
          """		if (hardirq && !dmaengine_desc_callback_hardirq_safe(&cb)) {
			defer = true;
			break;
		}""",
          """		if (hardirq && !dmaengine_desc_callback_hardirq_safe(&cb)) {
			struct virt_dma_desc *n;

			defer = true;
			if (cyclic || list_is_last(&vd->node, &vc->desc_completed))
				break;
			n = list_next_entry(vd, node);
			list_move(&n->node, &vc->desc_completed);
			continue;
		}""")]),
'M13': ("task callbacks run in softirq like the others (no task path)",
        ["task", "sync_task", "terminate_task"],
        [("drivers/dma/virt-dma.c",
          """		if (dmaengine_desc_callback_task(&cb)) {
			if (cyclic)""",
          """		if (false && dmaengine_desc_callback_task(&cb)) {
			if (cyclic)""")]),
'M14': ("terminate keeps completed descriptors whose client was not notified",
        ["terminate_pending"],
        [("drivers/dma/virt-dma.h",
          """	list_splice_tail_init(&vc->desc_completed, head);
	list_splice_tail_init(&vc->desc_task, head);""",
          """	list_splice_tail_init(&vc->desc_task, head);""")]),
'M15': ("synchronize does not wait for the per-channel path",
        ["sync_task"],
        [("drivers/dma/virt-dma.h",
          """	dmaengine_chan_notify_sync(&vc->notify);
}""", """}"""),
         ("include/linux/dmaengine.h",
          """		chan->device->device_synchronize(chan);
	dma_chan_sync_notifications(chan);""",
          """		chan->device->device_synchronize(chan);""")]),
}
