/**
 * The levels of `GEMINI_MEDIA_RESOLUTION`: how many tokens Gemini spends on an image. Kept
 * apart from the provider so the configuration can name them without loading the SDK.
 *
 * Tokens per image (Google's "Media resolution" page, "Token counts"): Gemini 2.5 models
 * `low` 64, `medium` 256, `high` 256 plus pan & scan, default (unset) 256 plus pan & scan
 * (~2,048); Gemini 3 models `low` 280, `medium` 560, `high` 1,120, default 1,120.
 *
 * @module
 */

/** The media resolution levels, lowest first. */
export const MEDIA_RESOLUTION_LEVELS = ["low", "medium", "high"] as const;

/** A media resolution level. */
export type MediaResolutionLevel = (typeof MEDIA_RESOLUTION_LEVELS)[number];
