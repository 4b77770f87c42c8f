using System.Globalization;
using Perf.Batch;

namespace Perf.LoadGen.Cli;

/// <summary>Parsers for perfgen's option values; each throws <see cref="FormatException"/> with a one-line reason.</summary>
internal static class Parsers
{
    internal static PriorityStrategy ParseStrategy(string text) => text switch
    {
        "auto" => PriorityStrategy.Auto,
        "cmsg" => PriorityStrategy.Cmsg,
        "socket-per-priority" => PriorityStrategy.SocketPerPriority,
        "setsockopt" => PriorityStrategy.SetsockoptPerRun,
        "mark-bpf" => PriorityStrategy.MarkAndBpf,
        _ => throw new FormatException("bad --priority-strategy '" + text + "': cmsg, socket-per-priority, setsockopt, mark-bpf or auto"),
    };

    internal static SegmentationMode ParseGso(string text) => text switch
    {
        "auto" => SegmentationMode.Auto,
        "on" => SegmentationMode.On,
        "off" => SegmentationMode.Off,
        _ => throw new FormatException("bad --gso '" + text + "': auto, on or off"),
    };

    internal static SendBackendKind ParseBackend(string text) => text switch
    {
        "auto" => SendBackendKind.Auto,
        "sendmmsg" => SendBackendKind.Sendmmsg,
        "uring" => SendBackendKind.IoUring,
        _ => throw new FormatException("bad --backend '" + text + "': sendmmsg, uring or auto"),
    };

    internal const int MinSize = PacketHeader.Size;
    internal const int MaxSize = SlotLayout.MaxUdpPayload;

    /// <summary>"50000", "50k", "1.5M" (packets/s) or "100bps", "10kbps", "2.5Mbps", "1Gbps" (bits/s).</summary>
    internal static Rate ParseRate(string text)
    {
        string t = text.Trim();
        bool bits = t.EndsWith("bps", StringComparison.OrdinalIgnoreCase);
        if (bits)
        {
            t = t[..^3];
        }

        double mult = 1;
        if (t.Length > 0)
        {
            switch (t[^1])
            {
                case 'k' or 'K': mult = 1e3; t = t[..^1]; break;
                case 'M': mult = 1e6; t = t[..^1]; break;
                case 'G' or 'g': mult = 1e9; t = t[..^1]; break;
            }
        }

        // IsFinite: double.TryParse takes "NaN" and "Infinity" whatever the NumberStyles (found by the property tests).
        if (!double.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v <= 0 || double.IsInfinity(v * mult))
        {
            throw new FormatException("bad rate '" + text + "': use N, Nk or NM packets/s, or Nbps, Nkbps, NMbps, NGbps");
        }

        return new Rate(v * mult, bits);
    }

    /// <summary>"10s", "500ms", "2m", "1h", or plain seconds.</summary>
    internal static TimeSpan ParseDuration(string text)
    {
        string t = text.Trim();
        (string num, double scale) = t.EndsWith("us", StringComparison.Ordinal) || t.EndsWith("µs", StringComparison.Ordinal) ? (t[..^2], 1e-6)
            : t.EndsWith("ms", StringComparison.Ordinal) ? (t[..^2], 0.001)
            : t.EndsWith('s') ? (t[..^1], 1)
            : t.EndsWith('m') ? (t[..^1], 60)
            : t.EndsWith('h') ? (t[..^1], 3600)
            : (t, 1);
        if (!double.TryParse(num, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v <= 0 || v * scale > 1e7 ||
            TimeSpan.FromSeconds(v * scale) <= TimeSpan.Zero) // shorter than a tick rounds to nothing
        {
            throw new FormatException("bad duration '" + text + "': use e.g. 10s, 500ms, 300us, 2m (up to 1e7 s)");
        }

        return TimeSpan.FromTicks((long)Math.Round(v * scale * TimeSpan.TicksPerSecond)); // 300us is 3000 ticks, not 2999
    }

    /// <summary>"64" or a range "64-1400", within 32..65507.</summary>
    internal static (int Min, int Max) ParseSize(string text)
    {
        string[] parts = text.Split('-');
        if (parts.Length is < 1 or > 2 ||
            !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int min) ||
            !int.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int max))
        {
            throw new FormatException("bad size '" + text + "': use N or MIN-MAX");
        }

        if (min < MinSize || max > MaxSize || min > max)
        {
            throw new FormatException("size '" + text + "' out of range: datagrams are " + MinSize + " to " + MaxSize + " bytes (the header alone is 32)");
        }

        return (min, max);
    }

    /// <summary>"0:50,3:30,6:20" (value:weight; a bare value weighs 1; values may be hex, 0x10010 = HTB class 1:10).</summary>
    internal static WeightedPriority[] ParsePriorities(string text)
    {
        var result = new List<WeightedPriority>();
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = item.Split(':');
            if (kv.Length > 2 || !TryParseU32(kv[0], out uint prio))
            {
                throw new FormatException("bad priority '" + item + "' in '" + text + "': use VALUE[:WEIGHT], VALUE decimal or 0x hex");
            }

            int weight = 1;
            if (kv.Length == 2 && (!int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out weight) || weight < 1 || weight > 1_000_000))
            {
                throw new FormatException("bad weight in '" + item + "': a whole number from 1 to 1000000");
            }

            result.Add(new WeightedPriority(prio, weight));
        }

        if (result.Count == 0)
        {
            throw new FormatException("empty priority list");
        }

        return [.. result];
    }

    /// <summary>
    /// "1:10=10mbit:ceil=20mbit:prio=0:limit=50,1:20=50mbit,1:30" (hex major and minor, as tc writes them; no rate =
    /// 10gbit). ceil, prio (0-7) and limit (leaf queue packets, 1-100000) are optional, in any order.
    /// </summary>
    internal static HtbClass[] ParseClasses(string text)
    {
        var result = new List<HtbClass>();
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            result.Add(ParseClass(item));
        }

        if (result.Count == 0)
        {
            throw new FormatException("empty class list");
        }

        if (result.Select(c => c.Major).Distinct().Count() != 1)
        {
            throw new FormatException("all classes must share one major number (the HTB qdisc's handle)");
        }

        if (result.Select(c => c.Minor).Distinct().Count() != result.Count)
        {
            throw new FormatException("a class is named twice");
        }

        return [.. result];
    }

    // One MAJOR:MINOR[=RATE[:ceil=RATE][:prio=N][:limit=N]].
    private static HtbClass ParseClass(string item)
    {
        int eq = item.IndexOf('=', StringComparison.Ordinal);
        string[] id = (eq < 0 ? item : item[..eq]).Split(':');
        if (id.Length != 2 ||
            !ushort.TryParse(id[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort major) ||
            !ushort.TryParse(id[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort minor) ||
            major == 0 || minor == 0 || minor == 0xffff)
        {
            throw new FormatException("bad class '" + item + "': use MAJOR:MINOR[=RATE[:ceil=RATE][:prio=N][:limit=N]], e.g. 1:10=10mbit:ceil=20mbit");
        }

        string[] spec = eq < 0 ? ["10gbit"] : item[(eq + 1)..].Split(':');
        string rate = spec[0];
        if (!IsTcRate(rate))
        {
            throw new FormatException("bad rate in class '" + item + "': a tc rate such as 500kbit, 10mbit or 1gbit");
        }

        string? ceil = null;
        int? prio = null, limit = null;
        foreach (string option in spec.Skip(1))
        {
            string[] kv = option.Split('=');
            switch (kv.Length == 2 ? kv[0] : string.Empty)
            {
                case "ceil" when ceil is null && IsTcRate(kv[1]):
                    ceil = kv[1];
                    break;
                case "prio" when prio is null && int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out int p) && p <= 7:
                    prio = p;
                    break;
                case "limit" when limit is null && int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out int l) && l is >= 1 and <= 100_000:
                    limit = l;
                    break;
                default:
                    throw new FormatException("bad option '" + option + "' in class '" + item + "': ceil=RATE, prio=0-7 or limit=1-100000, each once");
            }
        }

        if (ceil is not null && TcRateBits(ceil) < TcRateBits(rate))
        {
            throw new FormatException("class '" + item + "': ceil " + ceil + " is below its rate " + rate);
        }

        return new HtbClass(major, minor, rate, ceil, prio, limit);
    }

    /// <summary>
    /// Offered load per class: "1:10=max,1:20=20mbit,1:30=1k". Each value is a perfgen rate (packets/s, or bits/s
    /// with bps) or max (as fast as the sender can); null stands for max.
    /// </summary>
    internal static Dictionary<uint, Rate?> ParseLoads(string text, HtbClass[] classes)
    {
        var loads = new Dictionary<uint, Rate?>();
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            (uint id, string value) = ClassItem(item, classes, "--load", "CLASS=RATE|max, e.g. 1:10=max,1:20=20mbit");
            if (!loads.TryAdd(id, value == "max" ? null : ParseLoad(value)))
            {
                throw new FormatException("bad --load '" + text + "': class " + item + " is named twice");
            }
        }

        return loads;
    }

    // A load: perfgen's rate (N, Nk, NM packets/s; Nbps, Nkbps, NMbps, NGbps bits/s), or tc's way of writing bits/s
    // (Nbit, Nkbit, Nmbit, Ngbit), as the classes are written.
    private static Rate ParseLoad(string value)
    {
        if (value.EndsWith("bit", StringComparison.OrdinalIgnoreCase))
        {
            string number = value[..^3];
            string unit = number.Length > 0 && char.IsAsciiLetter(number[^1]) ? char.ToLowerInvariant(number[^1]) switch { 'k' => "k", 'm' => "M", 'g' => "G", _ => "?" } : string.Empty;
            return ParseRate((unit.Length == 0 ? number : number[..^1] + unit) + "bps");
        }

        return ParseRate(value);
    }

    /// <summary>Latency bounds per class: "1:30=2ms,1:20=500us" (ms, us or s).</summary>
    /// <summary>
    /// taprio's windows for <paramref name="classes"/>, which must be MAJOR:1 to MAJOR:N in order (class N is traffic
    /// class N-1, priority N); one DURATION per class, 20 µs to 1 s, or 500 µs each when <paramref name="text"/> is null.
    /// </summary>
    internal static long[] ParseGates(string? text, HtbClass[] classes)
    {
        if (classes.Length > 8 || classes.Select((c, i) => c.Minor == i + 1 && c.Rate == "10gbit" && c.Ceil is null && c.Prio is null && c.Limit is null).Contains(false))
        {
            throw new FormatException("--qdisc taprio takes classes MAJOR:1 to MAJOR:N in order, N up to 8, with no rate (class N is traffic class N-1, sent with priority N)");
        }

        string[] items = text is null ? [.. classes.Select(_ => "500us")] : text.Split(',', StringSplitOptions.TrimEntries);
        if (items.Length != classes.Length)
        {
            throw new FormatException("--gates needs one window per class: " + classes.Length + " here, " + items.Length + " given");
        }

        long[] gates = [.. items.Select(i => ParseDuration(i).Ticks * 100)];
        return gates.All(g => g is >= 20_000 and <= 1_000_000_000) ? gates : throw new FormatException("bad --gates '" + text + "': each window 20us to 1s");
    }

    internal static Dictionary<uint, TimeSpan> ParseLatencyBounds(string text, HtbClass[] classes)
    {
        var bounds = new Dictionary<uint, TimeSpan>();
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            (uint id, string value) = ClassItem(item, classes, "--max-p99", "CLASS=DURATION, e.g. 1:30=2ms");
            TimeSpan bound = value.EndsWith("us", StringComparison.Ordinal) && double.TryParse(value[..^2], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double us) && us > 0
                ? TimeSpan.FromMicroseconds(us)
                : ParseDuration(value);
            if (!bounds.TryAdd(id, bound))
            {
                throw new FormatException("bad --max-p99 '" + text + "': class " + item + " is named twice");
            }
        }

        return bounds;
    }

    // "CLASS=VALUE" where CLASS is one of the configured classes.
    private static (uint Id, string Value) ClassItem(string item, HtbClass[] classes, string option, string usage)
    {
        int eq = item.IndexOf('=', StringComparison.Ordinal);
        string name = eq < 0 ? item : item[..eq];
        string[] id = name.Split(':');
        HtbClass? match = id.Length == 2 &&
            ushort.TryParse(id[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort major) &&
            ushort.TryParse(id[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort minor)
            ? classes.Select(c => (HtbClass?)c).FirstOrDefault(c => c!.Value.Major == major && c.Value.Minor == minor)
            : null;
        if (eq < 0 || eq == item.Length - 1)
        {
            throw new FormatException("bad " + option + " entry '" + item + "': use " + usage);
        }

        if (match is null)
        {
            throw new FormatException(option + " names class " + name + ", which --classes does not have (" + string.Join(", ", classes.Select(c => c.ToString())) + ")");
        }

        return (match.Value.Id, item[(eq + 1)..]);
    }

    /// <summary>A tc rate in bits per second (tc(8): bit, kbit, mbit… decimal; kibit… binary; bps, kbps… bytes).</summary>
    internal static double TcRateBits(string text)
    {
        int i = 0;
        while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
        {
            i++;
        }

        double n = double.Parse(text.AsSpan(0, i), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
        string unit = text[i..].ToLowerInvariant();
        double scale = unit[0] switch
        {
            'k' => unit.Length > 1 && unit[1] == 'i' ? 1024 : 1e3,
            'm' => unit.Length > 1 && unit[1] == 'i' ? 1024 * 1024 : 1e6,
            'g' => unit.Length > 1 && unit[1] == 'i' ? 1024.0 * 1024 * 1024 : 1e9,
            't' => unit.Length > 1 && unit[1] == 'i' ? 1024.0 * 1024 * 1024 * 1024 : 1e12,
            _ => 1,
        };
        return n * scale * (unit.EndsWith("bps", StringComparison.Ordinal) ? 8 : 1);
    }

    // tc's rate syntax (tc(8) "RATES"): a positive number and a unit, bits (bit, kbit, mbit, gbit, tbit, and the
    // binary kibit...) or bytes (bps, kbps, ...) per second. Checked here so a bad rate never reaches tc half-way
    // through a setup.
    private static readonly string[] s_tcRateUnits =
        ["bit", "kbit", "mbit", "gbit", "tbit", "kibit", "mibit", "gibit", "tibit", "bps", "kbps", "mbps", "gbps", "tbps", "kibps", "mibps", "gibps", "tibps"];

    internal static bool IsTcRate(string text)
    {
        int i = 0;
        while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
        {
            i++;
        }

        return i > 0 && double.TryParse(text.AsSpan(0, i), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n) && n > 0 &&
            Array.IndexOf(s_tcRateUnits, text[i..].ToLowerInvariant()) >= 0;
    }

    internal static bool TryParseU32(string text, out uint value) =>
        text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? uint.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            : uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    internal static string FormatSi(double v) => v switch
    {
        >= 1e9 => (v / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "G",
        >= 1e6 => (v / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M",
        >= 1e3 => (v / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + "k",
        _ => v.ToString("0.##", CultureInfo.InvariantCulture),
    };
}
