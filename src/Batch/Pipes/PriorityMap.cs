using System.Globalization;

namespace Perf.Batch;

/// <summary>
/// A table from received to sent priority, with a default for values it does not name: keep the received priority
/// (the default), or use one fixed value. Immutable once built; lookups allocate nothing.
/// </summary>
public sealed class PriorityMap
{
    private readonly uint[] _from;
    private readonly uint[] _to;
    private readonly uint? _default;

    /// <summary>Builds a map from pairs; <paramref name="defaultPriority"/> null keeps unnamed priorities as received.</summary>
    public PriorityMap(IEnumerable<KeyValuePair<uint, uint>> pairs, uint? defaultPriority = null)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var sorted = new SortedDictionary<uint, uint>();
        foreach (KeyValuePair<uint, uint> p in pairs)
        {
            if (!sorted.TryAdd(p.Key, p.Value))
            {
                ThrowHelper.ThrowArgument("Priority " + p.Key.ToString(CultureInfo.InvariantCulture) + " is mapped twice.", nameof(pairs));
            }
        }

        _from = [.. sorted.Keys];
        _to = [.. sorted.Values];
        _default = defaultPriority;
    }

    /// <summary>The identity map: every datagram keeps its received priority.</summary>
    public static PriorityMap Identity { get; } = new([]);

    /// <summary>Parses "0=3,5=0x10010" with an optional "default=N" entry (values decimal or 0x hex).</summary>
    public static PriorityMap Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pairs = new List<KeyValuePair<uint, uint>>();
        uint? dflt = null;
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = item.Split('=');
            if (kv.Length != 2 || !TryParseU32(kv[1], out uint to))
            {
                throw new FormatException("bad priority map entry '" + item + "': use FROM=TO or default=TO (decimal or 0x hex)");
            }

            if (kv[0] == "default")
            {
                dflt = to;
            }
            else if (TryParseU32(kv[0], out uint from))
            {
                pairs.Add(new(from, to));
            }
            else
            {
                throw new FormatException("bad priority map entry '" + item + "': use FROM=TO or default=TO (decimal or 0x hex)");
            }
        }

        try
        {
            return new PriorityMap(pairs, dflt);
        }
        catch (ArgumentException e)
        {
            throw new FormatException(e.Message, e);
        }
    }

    /// <summary>The priority to send for a datagram received with <paramref name="received"/>.</summary>
    public uint Map(uint received)
    {
        int i = Array.BinarySearch(_from, received);
        return i >= 0 ? _to[i] : _default ?? received;
    }

    private static bool TryParseU32(string s, out uint v) =>
        s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? uint.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v)
            : uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);
}
