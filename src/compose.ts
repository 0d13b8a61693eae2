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
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { GeminiModel, type GeminiModelOptions } from "./models/gemini.ts";
import { OfflineModel } from "./models/offline.ts";
import { OpenAIModel, type OpenAIModelOptions } from "./models/openai.ts";
import { priceOf } from "./models/prices.ts";
import type { SessionLimits } from "./server/session.ts";

/** The model `MODEL_PROVIDER` names. */
export function buildModel(config: Config, log: Logger): Model {
  switch (config.modelProvider) {
    case "offline":
      return new OfflineModel();
    case "gemini":
    case "vertex": {
      const options: GeminiModelOptions = {
        model: config.geminiModel,
        thinkingBudget: config.geminiThinkingBudget,
        log,
      };
      const price = priceOf(config.modelPrices, config.geminiModel);
      if (price) options.price = price;
      else log.warn("no price for this model: cost_usd will be 0", { model: config.geminiModel });
      if (config.geminiBaseUrl) options.baseUrl = config.geminiBaseUrl;
      if (config.geminiMediaResolution) options.mediaResolution = config.geminiMediaResolution;
      if (config.modelProvider === "vertex") {
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
        model: config.openaiModel,
        baseUrl: config.openaiBaseUrl,
        vision: config.openaiVision,
        log,
      };
      if (config.openaiApiKey) options.apiKey = config.openaiApiKey;
      const price = priceOf(config.modelPrices, config.openaiModel);
      if (price) options.price = price;
      else log.warn("no price for this model: cost_usd will be 0", { model: config.openaiModel });
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
  };
}
