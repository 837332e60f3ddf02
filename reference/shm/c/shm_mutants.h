/*
 * shm_mutants.h -- the known-bad variants of shm.c, one compile-time switch each.
 *
 * Build a variant with -DVS_SHM_MUTANT=VS_SHM_M_<NAME>; without VS_SHM_MUTANT, shm.c is the
 * reference. models/shm/c_mutants.py builds each one (stepped) and checks that a state
 * machine of models/shm/machine.py catches it.
 */
#ifndef VS_SHM_MUTANTS_H
#define VS_SHM_MUTANTS_H

#define VS_SHM_M_NO_SEQ_RECHECK 1     /* reader: no second load of seq (SHM-TABLE-005) */
#define VS_SHM_M_NO_WMB_BEFORE_DATA 2 /* writer: no wmb after the odd seq (SHM-TABLE-004) */
#define VS_SHM_M_NO_WMB_AFTER_DATA 3  /* writer: no wmb before the even seq (SHM-TABLE-004) */
#define VS_SHM_M_UNBOUNDED_READ 4     /* reader: retries without a bound (SHM-TABLE-011) */
#define VS_SHM_M_NO_MB_INJECT 5       /* sender: no mb between pending := 1 and enabled
                                         (SHM-SIGNAL-004) */
#define VS_SHM_M_NO_MB_ENABLE 6       /* receiver: no mb between enabled := 1 and the
                                         re-check (SHM-SIGNAL-006) */
#define VS_SHM_M_NO_MB_ACK 7          /* receiver: no mb after pending := 0 (SHM-SIGNAL-005) */
#define VS_SHM_M_ACK_AFTER_READ 8     /* service: pending cleared after the poll, not before
                                         (SHM-SIGNAL-005) */
#define VS_SHM_M_NO_RECHECK_ENABLE 9  /* receiver: enable without re-reading pending
                                         (SHM-SIGNAL-006) */
#define VS_SHM_M_NO_RMB_BEFORE_DATA 10 /* reader: no rmb after the first load of seq
                                          (SHM-TABLE-006) */
#define VS_SHM_M_NO_RMB_AFTER_DATA 11  /* reader: no rmb before the second load of seq
                                          (SHM-TABLE-006) */

#ifndef VS_SHM_MUTANT
#define VS_SHM_MUTANT 0
#endif

#if VS_SHM_MUTANT < 0 || VS_SHM_MUTANT > 11
#error "VS_SHM_MUTANT must be one of the VS_SHM_M_* values of shm_mutants.h"
#endif

#define VS_SHM_IS_MUTANT(name) (VS_SHM_MUTANT == VS_SHM_M_##name)

#endif /* VS_SHM_MUTANTS_H */
