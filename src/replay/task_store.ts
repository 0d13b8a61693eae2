/**
 * A local task store for replays: the desktop's side of the two search tools, on
 * `node:sqlite`.
 *
 * - `search_keywords` is SQLite FTS5 (bm25 ranking). The query is user text (whatever the
 *   model asked for), so it is reduced to plain word tokens, each quoted, and joined with
 *   `OR`: FTS5 syntax in it (`"`, `*`, `NEAR`, `AND`, parentheses, column filters) is never
 *   interpreted.
 * - `search_similar` is cosine similarity of character-trigram count vectors, which matches
 *   rephrasings and typos ("Send Q3 reprot" ~ "send the Q3 report").
 *
 * Results come back in the protocol's `tool_result` item shape. Tasks extracted during a
 * replay are added, so later frames find (and dedupe against) them.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import type { ActiveTask, Priority, ToolKind, ToolResultItem } from "../protocol/messages.ts";
import { cosine, DEFAULT_LIMIT, ftsQuery, MIN_SIMILARITY, trigrams } from "./search.ts";

export {
  cosine,
  ftsQuery,
  MIN_SIMILARITY,
  queryTokens,
  trigrams,
  trigramSimilarity,
} from "./search.ts";

/** Status of a stored task, as the protocol names it. */
export type StoredTaskStatus = ToolResultItem["status"];

/** A task to store. */
export interface NewTask {
  /** What searches match and what the server sees: a short title. */
  description: string;
  details?: string;
  status?: StoredTaskStatus;
  priority?: Priority;
  /** A rank (1 = most important); 0 = none. */
  relevanceScore?: number;
  sourceApp?: string;
  deadline?: string;
}

/** A stored task. */
export interface StoredTask extends Required<NewTask> {
  id: number;
  createdAt: string;
}

/** Options of {@link TaskStore.open}. */
export interface TaskStoreOptions {
  /** SQLite file; default `":memory:"`. */
  path?: string;
  /** Clock for `created_at`; injectable for tests. */
  now?: () => Date;
}

/** Options of the two searches. */
export interface SearchOptions {
  /** Most hits returned. Default 10. */
  limit?: number;
}

/** Tasks `searchSimilar` compares against (the newest). */
const MAX_SIMILAR_CANDIDATES = 5_000;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'deleted')),
    priority TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('high', 'medium', 'low')),
    relevance_score INTEGER NOT NULL DEFAULT 0,
    source_app TEXT NOT NULL DEFAULT '',
    deadline TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
  );
  CREATE VIRTUAL TABLE IF NOT EXISTS tasks_fts USING fts5(
    description, content='tasks', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
  );
  CREATE TRIGGER IF NOT EXISTS tasks_ai AFTER INSERT ON tasks BEGIN
    INSERT INTO tasks_fts(rowid, description) VALUES (new.id, new.description);
  END;
  CREATE TRIGGER IF NOT EXISTS tasks_ad AFTER DELETE ON tasks BEGIN
    INSERT INTO tasks_fts(tasks_fts, rowid, description) VALUES ('delete', old.id, old.description);
  END;
  CREATE TRIGGER IF NOT EXISTS tasks_au AFTER UPDATE OF description ON tasks BEGIN
    INSERT INTO tasks_fts(tasks_fts, rowid, description) VALUES ('delete', old.id, old.description);
    INSERT INTO tasks_fts(rowid, description) VALUES (new.id, new.description);
  END;
`;

interface TaskRow {
  id: number;
  description: string;
  details: string;
  status: StoredTaskStatus;
  priority: Priority;
  relevance_score: number;
  source_app: string;
  deadline: string;
  created_at: string;
}

/** Tasks on `node:sqlite`, with FTS5 keyword search and trigram similarity search. */
export class TaskStore implements Disposable {
  #db: DatabaseSync;
  #now: () => Date;
  /** Trigram vectors by task id (descriptions never change once stored). */
  #vectors = new Map<number, Map<string, number>>();
  #revision = 0;

  private constructor(db: DatabaseSync, now: () => Date) {
    this.#db = db;
    this.#now = now;
  }

  /** Opens (and creates if needed) a store; in memory unless `path` is given. */
  static open(options: TaskStoreOptions = {}): TaskStore {
    const db = new DatabaseSync(options.path ?? ":memory:");
    try {
      db.exec(SCHEMA);
    } catch (err) {
      db.close();
      throw err;
    }
    return new TaskStore(db, options.now ?? (() => new Date()));
  }

  /** Number of stored tasks. */
  get size(): number {
    const row = this.#db.prepare("SELECT count(*) AS n FROM tasks").get() as { n: number };
    return Number(row.n);
  }

  /** Increases with every change made through this store: a context version. */
  get revision(): number {
    return this.#revision;
  }

  /** Stores a task and returns it with its id. */
  add(task: NewTask): StoredTask {
    const stored = {
      description: task.description,
      details: task.details ?? "",
      status: task.status ?? "active",
      priority: task.priority ?? "medium",
      relevanceScore: task.relevanceScore ?? 0,
      sourceApp: task.sourceApp ?? "",
      deadline: task.deadline ?? "",
      createdAt: this.#now().toISOString(),
    };
    const result = this.#db.prepare(
      `INSERT INTO tasks (description, details, status, priority, relevance_score, source_app,
         deadline, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      stored.description,
      stored.details,
      stored.status,
      stored.priority,
      stored.relevanceScore,
      stored.sourceApp,
      stored.deadline,
      stored.createdAt,
    );
    this.#revision++;
    return { id: Number(result.lastInsertRowid), ...stored };
  }

  /** Every stored task, oldest first. */
  list(): StoredTask[] {
    return (this.#db.prepare("SELECT * FROM tasks ORDER BY id").all() as unknown as TaskRow[])
      .map(fromRow);
  }

  /** Open tasks for the session context, newest first. */
  activeTasks(limit = 100): ActiveTask[] {
    const rows = this.#db.prepare(
      "SELECT * FROM tasks WHERE status = 'active' ORDER BY id DESC LIMIT ?",
    ).all(limit) as unknown as TaskRow[];
    return rows.map((row) => {
      const task: ActiveTask = {
        task_id: row.id,
        description: row.description,
        priority: row.priority,
      };
      if (row.relevance_score > 0) task.relevance_score = row.relevance_score;
      return task;
    });
  }

  /** The search a `tool_call_request` asks for, answered as the desktop would. */
  search(kind: ToolKind, query: string, options: SearchOptions = {}): ToolResultItem[] {
    return kind === "search_keywords"
      ? this.searchKeywords(query, options)
      : this.searchSimilar(query, options);
  }

  /** `search_keywords`: FTS5 over descriptions, best bm25 first; similarity 0, as Omi sends. */
  searchKeywords(query: string, options: SearchOptions = {}): ToolResultItem[] {
    const match = ftsQuery(query);
    if (!match) return [];
    const rows = this.#db.prepare(
      `SELECT tasks.* FROM tasks_fts JOIN tasks ON tasks.id = tasks_fts.rowid
       WHERE tasks_fts MATCH ? ORDER BY bm25(tasks_fts), tasks.id DESC LIMIT ?`,
    ).all(match, options.limit ?? DEFAULT_LIMIT) as unknown as TaskRow[];
    return rows.map((row) => toResult(row, 0, "fts"));
  }

  /** `search_similar`: trigram cosine against the newest tasks, most similar first. */
  searchSimilar(query: string, options: SearchOptions = {}): ToolResultItem[] {
    const wanted = trigrams(query);
    if (wanted.size === 0) return [];
    const rows = this.#db.prepare("SELECT * FROM tasks ORDER BY id DESC LIMIT ?")
      .all(MAX_SIMILAR_CANDIDATES) as unknown as TaskRow[];
    const scored: Array<{ row: TaskRow; similarity: number }> = [];
    for (const row of rows) {
      let vector = this.#vectors.get(row.id);
      if (!vector) this.#vectors.set(row.id, vector = trigrams(row.description));
      const similarity = cosine(wanted, vector);
      if (similarity >= MIN_SIMILARITY) scored.push({ row, similarity });
    }
    scored.sort((a, b) => b.similarity - a.similarity || b.row.id - a.row.id);
    return scored.slice(0, options.limit ?? DEFAULT_LIMIT).map(({ row, similarity }) =>
      toResult(row, Math.round(similarity * 1000) / 1000, "vector")
    );
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function fromRow(row: TaskRow): StoredTask {
  return {
    id: row.id,
    description: row.description,
    details: row.details,
    status: row.status,
    priority: row.priority,
    relevanceScore: row.relevance_score,
    sourceApp: row.source_app,
    deadline: row.deadline,
    createdAt: row.created_at,
  };
}

function toResult(
  row: TaskRow,
  similarity: number,
  matchType: "fts" | "vector",
): ToolResultItem {
  return {
    task_id: row.id,
    description: row.description,
    status: row.status,
    similarity,
    match_type: matchType,
    relevance_score: row.relevance_score,
  };
}
