using System.Globalization;
using System.Text;
using Perf.Batch;
using Perf.LoadGen;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.LoadGen;

/// <summary>
/// 100,000 generated inputs per parser (perfgen's rate, duration, size, priorities and classes, and
/// <see cref="PriorityMap.Parse"/>): well-formed values, which must come back exactly, and random or mutated text,
/// which may only be refused with <see cref="FormatException"/>. Anything accepted must also make sense (a finite
/// positive rate, a positive duration, sizes in range). Seeded; a failure names the input.
/// </summary>
[Trait(Lab.Trait, Lab.HostOnly)]
public sealed class ParserPropertyTests
{
    // The parsers do not depend on the kernel: the (emulated, ~20x slower) kernel lab runs a tenth of the cases.
    private static int Cases => Lab.InLab ? 10_000 : 100_000;

    // Pieces of real inputs and of typical mistakes; NaN and Infinity because double.TryParse takes them in any style.
    private static readonly string[] s_tokens =
    [
        "0", "1", "7", "9", "10", "64", "100", "1400", "0x", "0X", "ff", "10010", ".", "..", "-", ",", ":", "=", "k", "K", "M", "m",
        "G", "g", "bps", "kbps", "bit", "mbit", "kbit", "ms", "s", "h", " ", "\t", "default", "NaN", "Infinity", "-Infinity",
        "1e3", "+", "é", "\0", "65507", "65508", "31", "32", "4294967295", "4294967296", "1:10", "1:", "ffff", ":0", "99999999999999999999",
    ];

    private static readonly string[] s_units = ["kbit", "mbit", "gbit", "bit", "kbps", "mbps"];

    [Fact]
    public void RateTakesWellFormedValuesExactlyAndRefusesTheRestWithFormatException() =>
        Check<Rate, Rate>(1, r =>
        {
            double n = r.Next(1, 100_000) + (r.Next(4) == 0 ? r.Next(1, 100) / 100.0 : 0);
            (string suffix, double mult, bool bits) = (r.Next(7)) switch
            {
                0 => ("", 1, false), 1 => ("k", 1e3, false), 2 => ("M", 1e6, false), 3 => ("bps", 1, true),
                4 => ("kbps", 1e3, true), 5 => ("Mbps", 1e6, true), _ => ("Gbps", 1e9, true),
            };
            return (n.ToString(CultureInfo.InvariantCulture) + suffix, new Rate(n * mult, bits));
        },
        Parsers.ParseRate,
        (expected, got) => Math.Abs(got.Value - expected.Value) <= 1e-9 * expected.Value && got.Bits == expected.Bits,
        got => double.IsFinite(got.Value) && got.Value > 0);

    [Fact]
    public void DurationTakesWellFormedValuesExactlyAndRefusesTheRestWithFormatException() =>
        Check<TimeSpan, TimeSpan>(2, r =>
        {
            int n = r.Next(1, 2_700); // within the documented cap of 1e7 s, hours included
            (string unit, double scale) = r.Next(5) switch { 0 => ("ms", 0.001), 1 => ("s", 1), 2 => ("m", 60), 3 => ("h", 3600), _ => ("", 1) };
            return (n.ToString(CultureInfo.InvariantCulture) + unit, TimeSpan.FromSeconds(n * scale));
        },
        Parsers.ParseDuration,
        (expected, got) => expected == got,
        got => got > TimeSpan.Zero);

    [Fact]
    public void SizeTakesWellFormedValuesExactlyAndRefusesTheRestWithFormatException() =>
        Check<(int Min, int Max), (int Min, int Max)>(3, r =>
        {
            int a = r.Next(Parsers.MinSize, Parsers.MaxSize + 1);
            int b = r.Next(a, Parsers.MaxSize + 1);
            return r.Next(2) == 0 ? (a.ToString(CultureInfo.InvariantCulture), (a, a)) : (a + "-" + b, (a, b));
        },
        Parsers.ParseSize,
        (expected, got) => expected == got,
        got => got.Min >= Parsers.MinSize && got.Max <= Parsers.MaxSize && got.Min <= got.Max);

    [Fact]
    public void PrioritiesTakeWellFormedListsExactlyAndRefuseTheRestWithFormatException() =>
        Check<WeightedPriority[], WeightedPriority[]>(4, r =>
        {
            var items = new List<WeightedPriority>();
            var text = new StringBuilder();
            for (int i = r.Next(1, 6); i > 0; i--)
            {
                uint p = r.Next(3) == 0 ? (uint)r.NextInt64(0, 1L << 32) : (uint)r.Next(0, 16);
                int w = r.Next(2) == 0 ? 1 : r.Next(1, 1_000_001);
                text.Append(text.Length == 0 ? "" : ",").Append(r.Next(2) == 0 ? p.ToString(CultureInfo.InvariantCulture) : "0x" + p.ToString("x", CultureInfo.InvariantCulture));
                if (w != 1 || r.Next(2) == 0)
                {
                    text.Append(':').Append(w.ToString(CultureInfo.InvariantCulture));
                }

                items.Add(new WeightedPriority(p, w));
            }

            return (text.ToString(), items.ToArray());
        },
        Parsers.ParsePriorities,
        (expected, got) => expected.SequenceEqual(got),
        got => got.Length > 0 && got.All(p => p.Weight is >= 1 and <= 1_000_000));

    [Fact]
    public void ClassesTakeWellFormedListsExactlyAndRefuseTheRestWithFormatException() =>
        Check<HtbClass[], HtbClass[]>(5, r =>
        {
            ushort major = (ushort)r.Next(1, 0x10000);
            var items = new List<HtbClass>();
            var text = new StringBuilder();
            var minors = new HashSet<ushort>();
            for (int i = r.Next(1, 5); i > 0; i--)
            {
                ushort minor = (ushort)r.Next(1, 0xffff);
                if (!minors.Add(minor))
                {
                    continue; // a class named twice is refused: the well-formed lists name each once
                }

                string rate = r.Next(1, 1000).ToString(CultureInfo.InvariantCulture) + s_units[r.Next(s_units.Length)];
                bool bare = r.Next(4) == 0;
                text.Append(text.Length == 0 ? "" : ",").Append(major.ToString("x", CultureInfo.InvariantCulture)).Append(':').Append(minor.ToString("x", CultureInfo.InvariantCulture));
                if (!bare)
                {
                    text.Append('=').Append(rate);
                }

                items.Add(new HtbClass(major, minor, bare ? "10gbit" : rate));
            }

            return (text.ToString(), items.ToArray());
        },
        Parsers.ParseClasses,
        (expected, got) => expected.SequenceEqual(got),
        got => got.Length > 0 && got.All(c => c.Major == got[0].Major && c.Major > 0 && c.Minor > 0 && Parsers.IsTcRate(c.Rate)));

    [Fact]
    public void PriorityMapTakesWellFormedMapsExactlyAndRefusesTheRestWithFormatException() =>
        Check<(Dictionary<uint, uint> Pairs, uint? Default), PriorityMap>(6, r =>
        {
            var pairs = new Dictionary<uint, uint>();
            var text = new StringBuilder();
            for (int i = r.Next(0, 6); i > 0; i--)
            {
                uint from = (uint)r.Next(0, 64);
                uint to = (uint)r.NextInt64(0, 1L << 32);
                if (pairs.TryAdd(from, to))
                {
                    text.Append(text.Length == 0 ? "" : ",").Append(from.ToString(CultureInfo.InvariantCulture)).Append('=').Append("0x" + to.ToString("x", CultureInfo.InvariantCulture));
                }
            }

            uint? dflt = r.Next(3) == 0 ? (uint)r.Next(0, 8) : null;
            if (dflt is { } d)
            {
                text.Append(text.Length == 0 ? "" : ",").Append("default=").Append(d.ToString(CultureInfo.InvariantCulture));
            }

            return (text.ToString(), (Pairs: pairs, Default: dflt));
        },
        PriorityMap.Parse,
        (expected, map) => Enumerable.Range(0, 70).All(i => map.Map((uint)i) == (expected.Pairs.TryGetValue((uint)i, out uint to) ? to : expected.Default ?? (uint)i)),
        _ => true);

    /// <summary>
    /// Runs <see cref="Cases"/> inputs: a third well-formed (compared with <paramref name="same"/>), a third mutated from
    /// well-formed, a third random tokens. Every accepted input must satisfy <paramref name="sane"/>; every refusal must
    /// be a FormatException.
    /// </summary>
    private static void Check<TExpected, T>(int seed, Func<Random, (string Text, TExpected Expected)> wellFormed, Func<string, T> parse, Func<TExpected, T, bool> same, Func<T, bool> sane)
    {
        var r = new Random(seed);
        int accepted = 0, refused = 0;
        for (int i = 0; i < Cases; i++)
        {
            int kind = i % 3;
            (string text, TExpected expected) = wellFormed(r);
            if (kind == 1)
            {
                text = Mutate(r, text);
            }
            else if (kind == 2)
            {
                text = RandomText(r);
            }

            T got;
            try
            {
                got = parse(text);
            }
            catch (FormatException)
            {
                Assert.True(kind != 0, "case " + i + ": the well-formed '" + Escape(text) + "' was refused");
                refused++;
                continue;
            }
            catch (Exception e)
            {
                Assert.Fail("case " + i + ": '" + Escape(text) + "' threw " + e.GetType().Name + " (only FormatException is documented): " + e.Message);
                throw;
            }

            accepted++;
            Assert.True(sane(got), "case " + i + ": '" + Escape(text) + "' was accepted as " + got);
            if (kind == 0)
            {
                Assert.True(same(expected, got), "case " + i + ": '" + Escape(text) + "' parsed as " + got + ", expected " + expected);
            }
        }

        Assert.True(accepted >= Cases / 3 && refused > 0, "accepted " + accepted + ", refused " + refused);
    }

    private static string Mutate(Random r, string text)
    {
        var b = new StringBuilder(text);
        for (int n = r.Next(1, 4); n > 0; n--)
        {
            switch (r.Next(4))
            {
                case 0 when b.Length > 0: b.Remove(r.Next(b.Length), 1); break;
                case 1: b.Insert(r.Next(b.Length + 1), s_tokens[r.Next(s_tokens.Length)]); break;
                case 2 when b.Length > 0: b[r.Next(b.Length)] = (char)r.Next(32, 127); break;
                default: b.Insert(r.Next(b.Length + 1), (char)r.Next(0, 0x3000)); break;
            }
        }

        return b.ToString();
    }

    private static string RandomText(Random r)
    {
        var b = new StringBuilder();
        for (int n = r.Next(0, 7); n > 0; n--)
        {
            b.Append(s_tokens[r.Next(s_tokens.Length)]);
        }

        return b.ToString();
    }

    private static string Escape(string s) => s.ReplaceLineEndings("\\n").Replace("\0", "\\0", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);
}
