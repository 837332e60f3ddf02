/*
 * ring_packed_mutants.h -- the known-bad variants of ring_packed.c, one compile-time switch
 * each; the C counterparts of the Python variants of models/ring/packed/mutants.py.
 *
 * Build a variant with -DVS_PACKED_MUTANT=VS_PM_<NAME>; without VS_PACKED_MUTANT,
 * ring_packed.c is the reference. models/ring/packed/c_mutants.py builds each one (stepped)
 * and checks that the machine that should catch it does.
 */
#ifndef VS_RING_PACKED_MUTANTS_H
#define VS_RING_PACKED_MUTANTS_H

#define VS_PM_DRIVER_NO_WMB 1         /* add: no wmb before the first flags (RING-PACKED-050) */
#define VS_PM_DEVICE_NO_WMB 2         /* push: no wmb before a used flags (RING-PACKED-052) */
#define VS_PM_DEVICE_NO_RMB 3         /* pop: no rmb after the flags load (RING-PACKED-054) */
#define VS_PM_DRIVER_NO_RMB 4         /* get_used: no rmb after the flags load (-055) */
#define VS_PM_DRIVER_NO_MB_KICK 5     /* kick_prepare: no mb before the structure (-051) */
#define VS_PM_DEVICE_NO_MB_NOTIFY 6   /* should_notify: no mb before the structure (-053) */
#define VS_PM_DRIVER_NO_WRAP_FLIP 7   /* add: the wrap counter never flips (RING-PACKED-012) */
#define VS_PM_DEVICE_IGNORES_WRAP 8   /* pop: AVAIL != USED, whatever the lap (-015) */
#define VS_PM_EVENT_OFF_BY_ONE 9      /* both: window (old, new] not [old, new) (-064) */
#define VS_PM_DEVICE_NO_RECHECK 10    /* enable_notify: no re-check (RING-PACKED-070) */
#define VS_PM_DRIVER_NO_RECHECK 11    /* enable_cb: no re-check (RING-PACKED-071) */
#define VS_PM_DEVICE_AVAIL_ONLY 12    /* pop: AVAIL matches the lap, USED unread (-015, -021) */
#define VS_PM_DRIVER_TRUSTS_USED_ID 13 /* get_used: any used ID is freed (RING-PACKED-086) */

#ifndef VS_PACKED_MUTANT
#define VS_PACKED_MUTANT 0
#endif

#if VS_PACKED_MUTANT < 0 || VS_PACKED_MUTANT > 13
#error "VS_PACKED_MUTANT must be one of the VS_PM_* values of ring_packed_mutants.h"
#endif

#define VS_PACKED_IS_MUTANT(name) (VS_PACKED_MUTANT == VS_PM_##name)

#endif /* VS_RING_PACKED_MUTANTS_H */
