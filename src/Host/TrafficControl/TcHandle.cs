using System.Globalization;

namespace Perf.Host;

/// <summary>
/// A qdisc or class handle, <c>major:minor</c> in hex as tc writes it (<c>1:10</c> is 0x00010010). As a priority, a
/// class id sends a datagram straight into that HTB class.
/// </summary>
/// <param name="Value">The 32-bit handle: major in the upper 16 bits, minor in the lower.</param>
public readonly record struct TcHandle(uint Value)
{
    /// <summary>The root of a device (TC_H_ROOT), as a parent.</summary>
    public static TcHandle Root => new(0xFFFFFFFF);

    /// <summary>The upper 16 bits.</summary>
    public ushort Major => (ushort)(Value >> 16);

    /// <summary>The lower 16 bits.</summary>
    public ushort Minor => (ushort)Value;

    /// <summary>Parses <c>major:minor</c> (hex, either side may be empty: <c>1:</c> is 1:0), or <c>root</c>.</summary>
    /// <exception cref="FormatException">Not a handle.</exception>
    public static TcHandle Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text == "root")
        {
            return Root;
        }

        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || !Half(text[..colon], out ushort major) || !Half(text[(colon + 1)..], out ushort minor))
        {
            throw new FormatException("'" + text + "' is not a tc handle: MAJOR:MINOR in hex, e.g. 1:10");
        }

        return new TcHandle(((uint)major << 16) | minor);
    }

    private static bool Half(string s, out ushort value)
    {
        value = 0;
        return s.Length == 0 || ushort.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    /// <summary><c>major:minor</c> in hex (<c>root</c> for the root), as tc prints it.</summary>
    public override string ToString() => Value == 0xFFFFFFFF ? "root"
        : Major.ToString("x", CultureInfo.InvariantCulture) + ":" + (Minor == 0 ? string.Empty : Minor.ToString("x", CultureInfo.InvariantCulture));
}
