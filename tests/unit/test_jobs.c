/* Unit tests for the lane bookkeeping of src/delivery/jobs.c: which lanes the blocking read asks
 * for, with what COUNT and BLOCK (budgets and in-flight counts, a leased lane read with the others
 * only once caught up), when a leased lane with a backlog refills itself, and when a lane may take
 * over dead consumers' entries. The lanes are the engine's: fresh 512, retry 128, inbound 8 with
 * the inbound lease. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "switchboard/jobs.h"

#define BATCH      64
#define TIMEOUT_MS 2000 /* --redis-timeout-ms: the long block is 1 s */

static sb_lane_state_t lanes[3];

static int reset(void **state)
{
    (void)state;
    lanes[0] = (sb_lane_state_t){.budget = 512};
    lanes[1] = (sb_lane_state_t){.budget = 128};
    lanes[2] = (sb_lane_state_t){.budget = 8, .leased = true};
    return 0;
}

static sb_read_plan_t plan(bool want)
{
    sb_read_plan_t p;
    assert_int_equal(sb_lanes_plan_read(lanes, 3, BATCH, TIMEOUT_MS, &p), want);
    return p;
}

static void test_without_the_lease_the_inbound_lane_is_not_read(void **state)
{
    (void)state;
    sb_read_plan_t p = plan(true);
    assert_true(p.open[0] && p.open[1]);
    assert_false(p.open[2]);
    assert_int_equal(p.nopen, 2);
    assert_int_equal(p.count, BATCH);
    assert_int_equal(p.block_ms, 1000); /* every lane this consumer works is asked for */
    lanes[2].idle = true;               /* idle but not ready (the lease is not held): still out */
    p = plan(true);
    assert_false(p.open[2]);
    assert_int_equal(p.block_ms, 1000);
}

static void test_a_caught_up_holder_reads_the_inbound_lane_with_the_others(void **state)
{
    (void)state;
    lanes[2].ready = lanes[2].idle = true;
    sb_read_plan_t p = plan(true);
    assert_true(p.open[0] && p.open[1] && p.open[2]);
    assert_int_equal(p.count, 8); /* the room of the fullest open lane */
    assert_int_equal(p.block_ms, 1000);
    lanes[2].inflight = 5;
    assert_int_equal(plan(true).count, 3);
}

static void test_a_holder_with_a_backlog_reads_it_apart(void **state)
{
    (void)state;
    lanes[2].ready = true; /* not idle: refilled on the loop's connection */
    sb_read_plan_t p = plan(true);
    assert_false(p.open[2]);
    assert_int_equal(p.nopen, 2);
    assert_int_equal(p.block_ms, 10); /* a lane left out: block briefly, so it comes back soon */
}

static void test_a_full_lane_is_left_out(void **state)
{
    (void)state;
    lanes[0].inflight = 512;
    sb_read_plan_t p = plan(true);
    assert_false(p.open[0]);
    assert_true(p.open[1]);
    assert_int_equal(p.count, BATCH);
    assert_int_equal(p.block_ms, 10);
    lanes[1].inflight = 100; /* the count follows the room left */
    assert_int_equal(plan(true).count, 28);
    lanes[0].inflight = 511;
    p = plan(true);
    assert_true(p.open[0]);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.block_ms, 1000);
}

static void test_no_room_no_read(void **state)
{
    (void)state;
    lanes[0].inflight = 512;
    lanes[1].inflight = 128;
    sb_read_plan_t p = plan(false);
    assert_int_equal(p.nopen, 0);
    lanes[2].ready = lanes[2].idle = true;
    lanes[2].inflight = 8;
    plan(false);
}

static void test_the_long_block_stays_inside_the_command_deadline(void **state)
{
    (void)state;
    sb_read_plan_t p;
    assert_true(sb_lanes_plan_read(lanes, 3, BATCH, 500, &p));
    assert_int_equal(p.block_ms, 250);
    assert_true(sb_lanes_plan_read(lanes, 2, BATCH, 10000, &p));
    assert_int_equal(p.block_ms, 1000);
}

static void test_refill(void **state)
{
    (void)state;
    sb_lane_state_t *in = &lanes[2];
    assert_int_equal(sb_lane_refill_count(in), 0); /* not the holder */
    in->ready = true;
    assert_int_equal(sb_lane_refill_count(in), 8); /* a backlog, every slot free */
    in->inflight = 4;
    assert_int_equal(sb_lane_refill_count(in), 4); /* half the slots free: refill them */
    in->inflight = 5;
    assert_int_equal(sb_lane_refill_count(in), 0); /* more than half busy: wait */
    in->inflight = 0;
    in->reading = true;
    assert_int_equal(sb_lane_refill_count(in), 0); /* one read out at a time */
    in->reading = false;
    in->idle = true;
    assert_int_equal(sb_lane_refill_count(in), 0);        /* caught up: the blocking read's turn */
    assert_int_equal(sb_lane_refill_count(&lanes[0]), 0); /* lanes without a lease never refill */
}

static void test_reclaim(void **state)
{
    (void)state;
    assert_true(sb_lane_may_reclaim(&lanes[0]));
    assert_false(sb_lane_may_reclaim(&lanes[2])); /* not until the lease is held and taken over */
    lanes[2].ready = true;
    assert_true(sb_lane_may_reclaim(&lanes[2]));
    lanes[0].reclaiming = true;
    assert_false(sb_lane_may_reclaim(&lanes[0])); /* one out at a time */
    lanes[1].inflight = 128;
    assert_false(sb_lane_may_reclaim(&lanes[1])); /* no room for what it would take */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_without_the_lease_the_inbound_lane_is_not_read, reset),
        cmocka_unit_test_setup(test_a_caught_up_holder_reads_the_inbound_lane_with_the_others, reset),
        cmocka_unit_test_setup(test_a_holder_with_a_backlog_reads_it_apart, reset),
        cmocka_unit_test_setup(test_a_full_lane_is_left_out, reset),
        cmocka_unit_test_setup(test_no_room_no_read, reset),
        cmocka_unit_test_setup(test_the_long_block_stays_inside_the_command_deadline, reset),
        cmocka_unit_test_setup(test_refill, reset),
        cmocka_unit_test_setup(test_reclaim, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
