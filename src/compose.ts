/**
 * Factories that turn a validated {@link Config} into the service's dependencies, shared by
 * `main.ts` (the composition root) and the replay command. No side effects of its own.
 *
 * @module
 */
import type { Model } from "./analysis/model.ts";
import type { Authenticator } from "./auth/authenticator.ts";
import { FirebaseAuthenticator } from "./auth/firebase.ts";
import { NoAuthenticator } from "./auth/none.ts";
import type { Config, ModelRef } from "./config.ts";
import { PrivacyGuard } from "./frames/privacy.ts";
import type { Logger } from "./log.ts";
import {
  FallbackModel,
  type FallbackModelOptions,
  type FallbackReason,
} from "./models/fallback.ts";
import { GeminiModel, type GeminiModelOptions } from "./models/gemini.ts";
import { OfflineModel } from "./models/offline.ts";
import { OpenAIModel, type OpenAIModelOptions } from "./models/openai.ts";
import { priceOf } from "./models/prices.ts";
import type { SessionLimits } from "./server/session.ts";

/** Hooks {@link buildModel} wires into the models it builds. */
export interface ModelHooks {
  /** A call left `model` for the next model of `MODEL_FALLBACKS`. */
  onFallback?: (model: string, reason: FallbackReason) => void;
}

/**
 * The model `MODEL_PROVIDER` names, or, with `MODEL_FALLBACKS`, the chain of it and the
 * fallbacks ({@link FallbackModel}).
 */
export function buildModel(config: Config, log: Logger, hooks: ModelHooks = {}): Model {
  const primaryName = config.modelProvider === "openai"
    ? config.openaiModel
    : config.modelProvider === "offline"
    ? ""
    : config.geminiModel;
  const primary = buildProviderModel(
    config,
    { provider: config.modelProvider, model: primaryName },
    log,
  );
  if (config.modelFallbacks.length === 0) return primary;
  const options: FallbackModelOptions = {
    models: [primary, ...config.modelFallbacks.map((ref) => buildProviderModel(config, ref, log))],
    cooldownMs: config.modelCooldownSec * 1000,
    log,
  };
  if (hooks.onFallback) options.onFallback = hooks.onFallback;
  return new FallbackModel(options);
}

/** One model of `provider`, named `model`, with that provider's settings. */
export function buildProviderModel(config: Config, ref: ModelRef, log: Logger): Model {
  switch (ref.provider) {
    case "offline":
      return new OfflineModel();
    case "gemini":
    case "vertex": {
      const options: GeminiModelOptions = {
        model: ref.model,
        thinkingBudget: config.geminiThinkingBudget,
        log,
      };
      const price = priceOf(config.modelPrices, ref.model);
      if (price) options.price = price;
      else log.warn("no price for this model: cost_usd will be 0", { model: ref.model });
      if (config.geminiBaseUrl) options.baseUrl = config.geminiBaseUrl;
      if (config.geminiMediaResolution) options.mediaResolution = config.geminiMediaResolution;
      if (ref.provider === "vertex") {
        // loadConfig guarantees the project; credentials come from ADC (Workload Identity).
        options.vertex = {
          project: config.googleCloudProject ?? "",
          location: config.googleCloudLocation,
        };
      } else {
        options.apiKey = config.geminiApiKey ?? "";
      }
      return new GeminiModel(options);
    }
    case "openai": {
      const options: OpenAIModelOptions = {
        model: ref.model,
        baseUrl: config.openaiBaseUrl,
        vision: config.openaiVision,
        log,
      };
      if (config.openaiApiKey) options.apiKey = config.openaiApiKey;
      const price = priceOf(config.modelPrices, ref.model);
      if (price) options.price = price;
      else log.warn("no price for this model: cost_usd will be 0", { model: ref.model });
      return new OpenAIModel(options);
    }
  }
}

/** The authenticator `AUTH_MODE` names. */
export function buildAuthenticator(config: Config): Authenticator {
  switch (config.authMode) {
    case "none":
      return new NoAuthenticator();
    case "firebase":
      // loadConfig guarantees the project id in this mode.
      return new FirebaseAuthenticator({
        projectId: config.firebaseProjectId ?? "",
        jwksUrl: config.firebaseJwksUrl,
        clockToleranceSec: config.firebaseClockToleranceSec,
      });
  }
}

/** The per-session deadlines and bounds of the configuration. */
export function sessionLimits(config: Config): SessionLimits {
  return {
    analysisTimeoutMs: config.analysisTimeoutMs,
    modelCallTimeoutMs: config.modelCallTimeoutMs,
    toolResultTimeoutMs: config.toolResultTimeoutMs,
    maxMessageBytes: config.maxMessageBytes,
    maxPendingFrames: config.maxPendingFrames,
    maxPendingBytes: config.maxPendingBytes,
    listCaps: config.listCaps,
    skipUnchangedMs: config.skipUnchangedSec * 1000,
    skipHashDistance: config.skipHashDistance,
    helloTimeoutMs: config.helloTimeoutMs,
    privacy: new PrivacyGuard({
      skipApps: config.privacySkipApps,
      skipTitles: config.privacySkipTitles,
      redactContacts: config.privacyRedactContacts,
    }),
  };
}
