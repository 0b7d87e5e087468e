// dmacb: macros spatch cannot parse in provider code (see
// cocci/dma_provider_facts.cocci).  The body of a scoped_guard() block is
// an ordinary block for the facts dmacb reads (calls, stores, field uses).
#define scoped_guard(_name, args...) for (;;)
