// SPDX-License-Identifier: GPL-2.0-only
/// Move a provider's own tasklet that only delivers callbacks onto the
/// core's per-channel notification path (helper API v2,
/// dmaengine_chan_notify_*() in drivers/dma/dmaengine.[ch]): the seed's
/// step 3, "providers need no tasklet of their own".
///
/// -D fn=NAME: the tasklet function; -D member=NAME: the tasklet_struct
/// member of -D sname=NAME (struct sname); -D chan=NAME: the struct dma_chan
/// member of struct sname the path belongs to.  The member becomes
/// "struct dmaengine_chan_notify notify", tasklet_setup() becomes
/// dmaengine_chan_notify_init(), tasklet_schedule() and
/// tasklet_hi_schedule() become dmaengine_chan_notify_schedule() (softirq
/// context, as before), tasklet_kill() becomes dmaengine_chan_notify_sync(),
/// and the function takes the path instead of the tasklet.  Its body is
/// not touched.
/// The caller (dmacb convert) chooses tasklets the providers audit found
/// to deliver only, checks that every use of the member is one of these,
/// and compares the result with its own computation; a second run
/// changes nothing, as nothing of the tasklet is left to match.
//
// Confidence: Moderate (the tasklet is chosen by the caller)
// Copyright: (C) 2026 The dmacb authors.
// Options: --no-includes --include-headers-for-types
// Keywords: dmaengine, tasklet, dmaengine_chan_notify

virtual patch
virtual context
virtual org
virtual report

@tasklet_member depends on patch@
identifier virtual.sname;
identifier virtual.member;
@@

struct sname {
  ...
- struct tasklet_struct member;
+ struct dmaengine_chan_notify notify;
  ...
};

@setup depends on patch@
identifier virtual.fn;
identifier virtual.member;
identifier virtual.chan;
expression E;
@@

- tasklet_setup(&E->member, fn);
+ dmaengine_chan_notify_init(&E->chan, &E->notify, fn);

@uses depends on patch@
identifier virtual.member;
expression E;
@@

(
- tasklet_schedule(&E->member)
+ dmaengine_chan_notify_schedule(&E->notify)
|
- tasklet_hi_schedule(&E->member)
+ dmaengine_chan_notify_schedule(&E->notify)
|
- tasklet_kill(&E->member)
+ dmaengine_chan_notify_sync(&E->notify)
)

@tasklet_fn depends on patch@
identifier virtual.fn;
identifier virtual.member;
identifier virtual.sname;
identifier t, v;
@@

  fn(
- struct tasklet_struct *t
+ struct dmaengine_chan_notify *notify, bool task
  )
  {
  ...
  struct sname *v =
- from_tasklet(v, t, member);
+ container_of(notify, struct sname, notify);
  ...
  }
