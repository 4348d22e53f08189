//! C `ctime()` formatting without a clock: the host supplies the instant and its UTC offset.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats Unix time `secs` shifted by `offset` seconds as `ctime()` does, without the
/// trailing newline: `Thu Nov 26 21:34:53 2026` (day of month padded to width 2 with a space).
pub fn ctime(secs: i64, offset: i32) -> String {
    let local = secs + i64::from(offset);
    let days = local.div_euclid(86_400);
    let in_day = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    out.push_str(DAYS[days.rem_euclid(7) as usize]);
    out.push(' ');
    out.push_str(MONTHS[(month - 1) as usize]);
    out.push(' ');
    out.push(if day >= 10 { digit(day / 10) } else { ' ' });
    out.push(digit(day % 10));
    for (i, part) in [in_day / 3600, in_day % 3600 / 60, in_day % 60]
        .into_iter()
        .enumerate()
    {
        out.push(if i == 0 { ' ' } else { ':' });
        out.push(digit(part / 10));
        out.push(digit(part % 10));
    }
    out.push(' ');
    crate::json::push_int(&mut out, year);
    out
}

/// The ASCII digit of `n` (0-9).
fn digit(n: i64) -> char {
    char::from(b'0' + n as u8)
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::ctime;

    #[test]
    fn formats_like_ctime() {
        assert_eq!(ctime(0, 0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(1_795_728_893, 0), "Thu Nov 26 21:34:53 2026");
        assert_eq!(ctime(1_700_000_000, 0), "Tue Nov 14 22:13:20 2023");
        assert_eq!(ctime(1_709_210_096, 3600), "Thu Feb 29 13:34:56 2024");
        assert_eq!(ctime(-1, 0), "Wed Dec 31 23:59:59 1969");
    }
}
