//! The SQL of the aggregates' triggers (see `aggregates`): what each insert,
//! delete and update of an original table adds to or removes from the `ls_`
//! tables, the backfill of a file's existing rows, and the repair of stale
//! extremes. Only SQL that SQLite 3.40 understands, and nothing that can
//! fail a write of the original.

use super::aggregates::ALL_JOBS;
use super::population_log::{self, Changed};

/// The triggers [`create_triggers`] makes, by name.
pub(super) const TRIGGERS: &[&str] = &[
    "ls_budget_insert",
    "ls_budget_delete",
    "ls_budget_update",
    "ls_response_insert",
    "ls_response_delete",
    "ls_response_update",
    "ls_application_insert",
    "ls_application_delete",
    "ls_application_update",
    "ls_pattern_insert",
    "ls_pattern_delete",
    "ls_pattern_update",
];

/// One Kahan-Babuska-Neumaier step of `sum`/`err` by `x`, as SQLite's
/// `kahanBabuskaNeumaierStep`: the new error term.
fn kbn_err(sum: &str, err: &str, x: &str) -> String {
    format!(
        "{err} + CASE WHEN abs({sum}) > abs({x}) THEN ({sum} - ({sum} + {x})) + {x} \
         ELSE ({x} - ({sum} + {x})) + {sum} END"
    )
}

/// Whether `expression` is a number to the readers (`cells`): an integer or a
/// real. SQLite's arithmetic would read text as 0 and MAX would take it.
fn is_number(expression: &str) -> String {
    format!("typeof({expression}) IN ('integer', 'real')")
}

/// The rows of `exploration_budget` the readers can represent (see
/// `budget::from_row`): the columns it needs are not NULL and the value is
/// a number.
pub(super) fn budget_readable(row: &str) -> String {
    format!(
        "{row}.id IS NOT NULL AND {row}.job_hash IS NOT NULL AND {row}.adjustment_type IS NOT NULL \
         AND {}",
        is_number(&format!("{row}.budget_value"))
    )
}

/// The same for `entropy_responses` (see `responses::from_row`).
fn response_readable(row: &str) -> String {
    format!(
        "{row}.id IS NOT NULL AND {row}.job_hash IS NOT NULL AND {} AND {}",
        is_number(&format!("{row}.entropy_at_trigger")),
        is_number(&format!("{row}.threshold_used"))
    )
}

/// `(all_jobs, job_hash)` expressions of the two rows a budget/response row feeds.
fn keys(row: &str) -> [(String, String); 2] {
    [
        ("0".to_owned(), format!("{row}.job_hash")),
        (ALL_JOBS.0.to_string(), format!("'{}'", ALL_JOBS.1)),
    ]
}

const ADJUSTMENT_TYPES: [&str; 5] = [
    "floor_enforced",
    "boost",
    "decay",
    "ceiling_enforced",
    "initial",
];

fn budget_add(row: &str) -> String {
    let v = format!("{row}.budget_value");
    let type_columns = ADJUSTMENT_TYPES.join(", ");
    let type_values: Vec<String> = ADJUSTMENT_TYPES
        .iter()
        .map(|t| format!("coalesce({row}.adjustment_type = '{t}', 0)"))
        .collect();
    let type_updates: Vec<String> = ADJUSTMENT_TYPES
        .iter()
        .map(|t| format!("{t} = coalesce({t}, 0) + excluded.{t}"))
        .collect();
    let x = "excluded.value_sum";
    keys(row)
        .iter()
        .map(|(all, job)| {
            format!(
                "INSERT INTO ls_budget_stats (all_jobs, job_hash, n, value_sum, value_err, \
                 min_value, max_value, minmax_stale, {type_columns}) \
                 SELECT {all}, {job}, 1, {v}, 0.0, {v}, {v}, 0, {type_values} WHERE {readable} \
                 ON CONFLICT (all_jobs, job_hash) DO UPDATE SET \
                 n = coalesce(n, 0) + 1, \
                 value_sum = value_sum + {x}, \
                 value_err = {err}, \
                 min_value = min(min_value, excluded.min_value), \
                 max_value = max(max_value, excluded.max_value), \
                 {type_updates};\n",
                type_values = type_values.join(", "),
                type_updates = type_updates.join(", "),
                err = kbn_err("value_sum", "value_err", x),
                readable = budget_readable(row),
            )
        })
        .collect()
}

fn budget_remove(row: &str) -> String {
    let v = format!("{row}.budget_value");
    let type_updates: Vec<String> = ADJUSTMENT_TYPES
        .iter()
        .map(|t| format!("{t} = {t} - coalesce({row}.adjustment_type = '{t}', 0)"))
        .collect();
    let minus_v = format!("(-{v})");
    keys(row)
        .iter()
        .map(|(all, job)| {
            format!(
                "UPDATE ls_budget_stats SET \
                 n = n - 1, \
                 value_sum = value_sum + {minus_v}, \
                 value_err = {err}, \
                 minmax_stale = CASE WHEN {v} > min_value AND {v} < max_value \
                 THEN minmax_stale ELSE 1 END, \
                 {type_updates} \
                 WHERE all_jobs = {all} AND job_hash = {job} AND {readable};\n\
                 DELETE FROM ls_budget_stats WHERE all_jobs = {all} AND job_hash = {job} \
                 AND NOT n > 0;\n",
                type_updates = type_updates.join(", "),
                err = kbn_err("value_sum", "value_err", &minus_v),
                readable = budget_readable(row),
            )
        })
        .collect()
}

fn response_add(row: &str) -> String {
    let e = format!("{row}.entropy_at_trigger");
    let boosted = format!("coalesce({row}.budget_boosted != 0, 0)");
    let revisits = format!("coalesce({row}.quarantine_revisits + 0, 0)");
    let x = "excluded.entropy_sum";
    keys(row)
        .iter()
        .map(|(all, job)| {
            format!(
                "INSERT INTO ls_response_stats (all_jobs, job_hash, n, entropy_sum, entropy_err, \
                 budget_boosts, quarantine_revisits) \
                 SELECT {all}, {job}, 1, {e}, 0.0, {boosted}, {revisits} WHERE {readable} \
                 ON CONFLICT (all_jobs, job_hash) DO UPDATE SET \
                 n = coalesce(n, 0) + 1, \
                 entropy_sum = entropy_sum + {x}, \
                 entropy_err = {err}, \
                 budget_boosts = budget_boosts + excluded.budget_boosts, \
                 quarantine_revisits = quarantine_revisits + excluded.quarantine_revisits;\n",
                err = kbn_err("entropy_sum", "entropy_err", x),
                readable = response_readable(row),
            )
        })
        .collect()
}

fn response_remove(row: &str) -> String {
    let minus_e = format!("(-{row}.entropy_at_trigger)");
    keys(row)
        .iter()
        .map(|(all, job)| {
            format!(
                "UPDATE ls_response_stats SET \
                 n = n - 1, \
                 entropy_sum = entropy_sum + {minus_e}, \
                 entropy_err = {err}, \
                 budget_boosts = budget_boosts - coalesce({row}.budget_boosted != 0, 0), \
                 quarantine_revisits = quarantine_revisits \
                 - coalesce({row}.quarantine_revisits + 0, 0) \
                 WHERE all_jobs = {all} AND job_hash = {job} AND {readable};\n\
                 DELETE FROM ls_response_stats WHERE all_jobs = {all} AND job_hash = {job} \
                 AND NOT n > 0;\n",
                err = kbn_err("entropy_sum", "entropy_err", &minus_e),
                readable = response_readable(row),
            )
        })
        .collect()
}

/// The original counts `COUNT(a.id)`: applications with a NULL id or
/// pattern id are not counted.
fn application_add(row: &str) -> String {
    format!(
        "INSERT INTO ls_pattern_app_counts (pattern_id, n) \
         SELECT {row}.pattern_id, 1 WHERE {row}.pattern_id IS NOT NULL AND {row}.id IS NOT NULL \
         ON CONFLICT (pattern_id) DO UPDATE SET n = coalesce(n, 0) + 1;\n"
    )
}

fn application_remove(row: &str) -> String {
    let counted = format!("{row}.id IS NOT NULL");
    format!(
        "UPDATE ls_pattern_app_counts SET n = n - 1 \
         WHERE pattern_id = {row}.pattern_id AND {counted};\n\
         DELETE FROM ls_pattern_app_counts WHERE pattern_id = {row}.pattern_id AND NOT n > 0;\n"
    )
}

/// The application counts of the pattern ids `ids` (`NEW.pattern_id`, ...)
/// change: the population's version too.
fn application_change(body: String, ids: &[&str]) -> String {
    body + &population_log::log(&owned(ids), Changed::Applications)
}

/// The pattern ids `ids` (`NEW.id`, ...) join or leave the population.
fn pattern_change(ids: &[&str]) -> String {
    population_log::log(&owned(ids), Changed::Patterns)
}

fn owned(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

pub(super) fn trigger(name: &str, event: &str, table: &str, body: &str) -> String {
    format!("CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN\n{body}END;\n")
}

pub(super) fn create_triggers() -> String {
    [
        trigger(
            "ls_budget_insert",
            "INSERT",
            "exploration_budget",
            &budget_add("NEW"),
        ),
        trigger(
            "ls_budget_delete",
            "DELETE",
            "exploration_budget",
            &budget_remove("OLD"),
        ),
        trigger(
            "ls_budget_update",
            "UPDATE OF id, job_hash, budget_value, adjustment_type",
            "exploration_budget",
            &(budget_remove("OLD") + &budget_add("NEW")),
        ),
        trigger(
            "ls_response_insert",
            "INSERT",
            "entropy_responses",
            &response_add("NEW"),
        ),
        trigger(
            "ls_response_delete",
            "DELETE",
            "entropy_responses",
            &response_remove("OLD"),
        ),
        trigger(
            "ls_response_update",
            "UPDATE OF id, job_hash, entropy_at_trigger, threshold_used, budget_boosted, \
             quarantine_revisits",
            "entropy_responses",
            &(response_remove("OLD") + &response_add("NEW")),
        ),
        trigger(
            "ls_application_insert",
            "INSERT",
            "pattern_applications",
            &application_change(application_add("NEW"), &["NEW.pattern_id"]),
        ),
        trigger(
            "ls_application_delete",
            "DELETE",
            "pattern_applications",
            &application_change(application_remove("OLD"), &["OLD.pattern_id"]),
        ),
        trigger(
            "ls_application_update",
            "UPDATE OF id, pattern_id",
            "pattern_applications",
            &application_change(
                application_remove("OLD") + &application_add("NEW"),
                &["OLD.pattern_id", "NEW.pattern_id"],
            ),
        ),
        trigger(
            "ls_pattern_insert",
            "INSERT",
            "patterns",
            &pattern_change(&["NEW.id"]),
        ),
        trigger(
            "ls_pattern_delete",
            "DELETE",
            "patterns",
            &pattern_change(&["OLD.id"]),
        ),
        trigger(
            "ls_pattern_update",
            "UPDATE OF id",
            "patterns",
            &pattern_change(&["OLD.id", "NEW.id"]),
        ),
    ]
    .concat()
}

/// Aggregates of the rows already there, computed once.
pub(super) fn backfill() -> String {
    let budget = |all: &str, group: &str| {
        format!(
            "INSERT INTO ls_budget_stats
             SELECT {all}, COUNT(*), TOTAL(budget_value), 0.0, MIN(budget_value),
                    MAX(budget_value), 0,
                    TOTAL(adjustment_type = 'floor_enforced'), TOTAL(adjustment_type = 'boost'),
                    TOTAL(adjustment_type = 'decay'), TOTAL(adjustment_type = 'ceiling_enforced'),
                    TOTAL(adjustment_type = 'initial')
             FROM exploration_budget b WHERE {readable} {group};\n",
            readable = budget_readable("b"),
        )
    };
    let responses = |all: &str, group: &str| {
        format!(
            "INSERT INTO ls_response_stats
             SELECT {all}, COUNT(*), TOTAL(entropy_at_trigger), 0.0, TOTAL(budget_boosted != 0),
                    TOTAL(quarantine_revisits)
             FROM entropy_responses r WHERE {readable} {group};\n",
            readable = response_readable("r"),
        )
    };
    [
        budget("0, job_hash", "GROUP BY job_hash"),
        budget("1, ''", "HAVING COUNT(*) > 0"),
        responses("0, job_hash", "GROUP BY job_hash"),
        responses("1, ''", "HAVING COUNT(*) > 0"),
        "INSERT INTO ls_pattern_app_counts
         SELECT pattern_id, COUNT(id) FROM pattern_applications
         WHERE pattern_id IS NOT NULL GROUP BY pattern_id HAVING COUNT(id) > 0;\n"
            .to_owned(),
    ]
    .concat()
}

/// Recomputes MIN/MAX of rows that a delete left stale.
pub(super) fn repair_stale() -> String {
    let extreme = |function: &str| {
        format!(
            "(SELECT {function}(b.budget_value) FROM exploration_budget b \
             WHERE (all_jobs = 1 OR b.job_hash = ls_budget_stats.job_hash) AND {readable})",
            readable = budget_readable("b"),
        )
    };
    format!(
        "UPDATE ls_budget_stats SET min_value = {}, max_value = {}, minmax_stale = 0 \
         WHERE minmax_stale != 0;",
        extreme("MIN"),
        extreme("MAX")
    )
}
