/*
 * ring_mutants.h -- the known-bad variants of ring.c, one compile-time switch each.
 *
 * Build a variant with -DVS_MUTANT=VS_M_<NAME>; without VS_MUTANT, ring.c is the
 * reference. models/ring/c_mutants.py builds each one (stepped) and checks that the
 * conformance suite or the TSO state machine catches it.
 */
#ifndef VS_RING_MUTANTS_H
#define VS_RING_MUTANTS_H

#define VS_M_NO_MB_KICK 1            /* driver: no mb in kick_prepare (RING-SPLIT-070) */
#define VS_M_NO_MB_NOTIFY 2          /* device: no mb in should_notify (RING-SPLIT-071) */
#define VS_M_NO_RECHECK_NOTIFY 3     /* device: enable_notify without re-check (RING-SPLIT-072) */
#define VS_M_NO_RECHECK_CB 4         /* driver: enable_cb without re-check (RING-SPLIT-073) */
#define VS_M_NEED_EVENT_OFF_BY_ONE 5 /* both: event in (old, new] instead of [old, new) (-100) */
#define VS_M_USED_IDX_MOD_Q 6        /* device: used.idx wrapped modulo Q (RING-SPLIT-043) */
#define VS_M_UNBOUNDED_WALK 7        /* device: no loop or length bound on a walk (-080) */
#define VS_M_NO_HEAD_CHECK 8         /* device: head index not checked against Q (-080) */
#define VS_M_TRUST_USED_ID 9         /* driver: used id not checked to be outstanding (-085) */

#ifndef VS_MUTANT
#define VS_MUTANT 0
#endif

#if VS_MUTANT < 0 || VS_MUTANT > 9
#error "VS_MUTANT must be one of the VS_M_* values of ring_mutants.h"
#endif

#define VS_IS_MUTANT(name) (VS_MUTANT == VS_M_##name)

#endif /* VS_RING_MUTANTS_H */
