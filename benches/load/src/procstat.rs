//! CPU time of a process from /proc/PID/stat (utime + stime), in seconds.

/// utime + stime of `pid` in seconds, or None if the process is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    ticks_to_seconds(parse_ticks(&stat)?)
}

/// CPU seconds of this process (all threads).
pub fn self_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

/// Fields 14 and 15 of /proc/PID/stat. The command name (field 2) is in
/// parentheses and may hold spaces, so counting starts after the last ')'.
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts with field 3 (state): utime is field 14, so index 11 here.
    let mut it = rest.split_whitespace().skip(11);
    let utime: u64 = it.next()?.parse().ok()?;
    let stime: u64 = it.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_to_seconds(ticks: u64) -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    Some(ticks as f64 / hz as f64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_fields_after_the_command_name() {
        let line = "42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 17 0 0 20 0";
        assert_eq!(super::parse_ticks(line), Some(267));
    }
}

/// Busy CPU seconds of the whole machine so far (all CPUs: user, nice,
/// system, irq, softirq, steal from the first line of /proc/stat).
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return None;
    }
    // user nice system idle iowait irq softirq steal
    let busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    ticks_to_seconds(busy)
}
