/* The reference for bench part 1: a SPANK plugin that does nothing (it only
 * exists), built against the headers of the series benchmarked. What it
 * costs a step is what Slurm charges for loading any plugin at all; the
 * bench shows Carme's plugin next to it. Not installed, not shipped. */
#include <slurm/spank.h>

SPANK_PLUGIN(carme_bench_null, 1);

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    (void)sp;
    (void)ac;
    (void)av;
    return 0;
}
