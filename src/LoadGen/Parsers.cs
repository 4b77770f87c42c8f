using System.Globalization;

namespace Perf.LoadGen;

/// <summary>A rate: packets per second, or bits per second counted over whole IP packets.</summary>
internal readonly record struct Rate(double Value, bool Bits)
{
    internal static readonly Rate Unlimited = new(0, false);

    internal bool IsUnlimited => Value <= 0;

    public override string ToString() => IsUnlimited ? "unlimited" : Bits ? Parsers.FormatSi(Value) + "bps" : Parsers.FormatSi(Value) + "pps";
}

/// <summary>A priority and its weight in the mix.</summary>
internal readonly record struct WeightedPriority(uint Priority, int Weight);

/// <summary>An HTB class for qdisc-test: its id (also the priority that selects it) and rate.</summary>
internal readonly record struct HtbClass(ushort Major, ushort Minor, string Rate)
{
    internal uint Id => ((uint)Major << 16) | Minor;

    public override string ToString() => Major.ToString("x", CultureInfo.InvariantCulture) + ":" + Minor.ToString("x", CultureInfo.InvariantCulture);
}

/// <summary>Parsers for perfgen's option values; each throws <see cref="FormatException"/> with a one-line reason.</summary>
internal static class Parsers
{
    internal const int MinSize = PacketHeader.Size;
    internal const int MaxSize = 65507;

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
        (string num, double scale) = t.EndsWith("ms", StringComparison.Ordinal) ? (t[..^2], 0.001)
            : t.EndsWith('s') ? (t[..^1], 1)
            : t.EndsWith('m') ? (t[..^1], 60)
            : t.EndsWith('h') ? (t[..^1], 3600)
            : (t, 1);
        if (!double.TryParse(num, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v <= 0 || v * scale > 1e7 ||
            TimeSpan.FromSeconds(v * scale) <= TimeSpan.Zero) // shorter than a tick rounds to nothing
        {
            throw new FormatException("bad duration '" + text + "': use e.g. 10s, 500ms, 2m (up to 1e7 s)");
        }

        return TimeSpan.FromSeconds(v * scale);
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

    /// <summary>"1:10=10mbit,1:20=50mbit,1:30" (hex minor and major, as tc writes them; no rate = 10gbit).</summary>
    internal static HtbClass[] ParseClasses(string text)
    {
        var result = new List<HtbClass>();
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = item.Split('=');
            string[] id = kv[0].Split(':');
            if (kv.Length > 2 || id.Length != 2 ||
                !ushort.TryParse(id[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort major) ||
                !ushort.TryParse(id[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort minor) ||
                major == 0 || minor == 0)
            {
                throw new FormatException("bad class '" + item + "': use MAJOR:MINOR[=RATE], e.g. 1:10=10mbit");
            }

            string rate = kv.Length == 2 ? kv[1] : "10gbit";
            if (!IsTcRate(rate))
            {
                throw new FormatException("bad rate in class '" + item + "': a tc rate such as 500kbit, 10mbit or 1gbit");
            }

            result.Add(new HtbClass(major, minor, rate));
        }

        if (result.Count == 0)
        {
            throw new FormatException("empty class list");
        }

        if (result.Select(c => c.Major).Distinct().Count() != 1)
        {
            throw new FormatException("all classes must share one major number (the HTB qdisc's handle)");
        }

        return [.. result];
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
